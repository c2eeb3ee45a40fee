"""How values read in Chinese pages and dossiers: money in 万元, local times, ratios."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def money(value: Decimal | None) -> str:
    """万元 with thousands separators and two decimals; blank when unknown."""
    if value is None:
        return ""
    return f"{value:,.2f}"


def ratio(value: Decimal | None, digits: int = 1) -> str:
    """A fraction as a percentage."""
    if value is None:
        return ""
    return f"{value * 100:.{digits}f}%"


def local_time(value: datetime | None) -> str:
    """A UTC timestamp shown in Beijing time."""
    if value is None:
        return ""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def day(value: date | None) -> str:
    """A calendar date."""
    return value.isoformat() if value else ""


def month(value: date | None) -> str:
    """A year and month (拟开工年月)."""
    return f"{value.year}年{value.month:02d}月" if value else ""


def file_size(size: int | None) -> str:
    """A byte count for people."""
    if size is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


FILTERS = {
    "money": money,
    "ratio": ratio,
    "local_time": local_time,
    "day": day,
    "month": month,
    "file_size": file_size,
}
