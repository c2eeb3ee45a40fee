"""Excel workbooks (openpyxl) in the layouts project offices use: plain dicts in, xlsx bytes out.

Money is written as the exact Decimal (openpyxl stores its digits), formatted "#,##0.00" 万元.
Every text cell passes through ``safe_cell`` so that nothing a user typed can become a
formula when the sheet is opened (CSV/formula injection: = + - @ and tab/CR).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

MONEY_FORMAT = "#,##0.00"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Excel shows a leading apostrophe as the "text" marker; in the stored value it keeps any
# reader (Excel, WPS, LibreOffice, a CSV round trip) from evaluating the text.
GUARD = "'"

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="DDE7F3")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(vertical="center", wrap_text=True)


def safe_cell(value):
    """The value as it may be written: text that could start a formula gets a leading guard."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters openpyxl refuses
        if value.startswith(FORMULA_PREFIXES):
            return GUARD + value
    return value


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its header, width, and whether it holds 万元."""

    key: str
    header: str
    width: float
    money: bool = False


FUND_COLUMNS = (
    Column("fund_central", "中央资金", 12, True),
    Column("fund_provincial", "省级资金", 12, True),
    Column("fund_local_fiscal", "地方财政配套", 12, True),
    Column("fund_self", "企业自筹", 12, True),
    Column("fund_loan", "银行贷款", 12, True),
    Column("fund_other", "其他资金", 12, True),
)

LIBRARY_COLUMNS = (
    Column("seq", "序号", 6),
    Column("district", "区县", 12),
    Column("name", "项目名称", 32),
    Column("code", "项目代码", 26),
    Column("applicant_unit", "申报单位", 26),
    Column("applicant_uscc", "统一社会信用代码", 22),
    Column("category", "所属领域", 12),
    Column("industry_chain", "产业链", 12),
    Column("nature", "建设性质", 10),
    Column("location", "建设地点", 18),
    Column("planned_start", "拟开工年月", 11),
    Column("planned_end", "拟建成年月", 11),
    Column("total_investment", "总投资(万元)", 14, True),
    *(Column(c.key, f"{c.header}(万元)", c.width, True) for c in FUND_COLUMNS),
    Column("content", "建设内容", 40),
    Column("data_content", "含数量", 30),
    Column("maturity", "成熟度", 10),
    Column("is_key", "重点项目", 9),
    Column("contact_name", "联系人", 10),
    Column("contact_mobile", "联系电话", 14),
)

# The import template: what a district fills in; the headers are what the importer reads.
IMPORT_COLUMNS = tuple(c for c in LIBRARY_COLUMNS if c.key not in ("seq", "district", "maturity"))
IMPORT_REQUIRED = frozenset({"name", "category"})
IMPORT_HINTS = {
    "code": "24 位,如 2025-320903-65-01-123456",
    "category": "数字经济/数字社会/数字政府/数据安全/数字基础设施/数据科技",
    "nature": "新建/扩建/改建/续建",
    "planned_start": "YYYY-MM,如 2026-03",
    "planned_end": "YYYY-MM",
    "total_investment": "万元,最多两位小数",
    "is_key": "是/否",
    "contact_mobile": "11 位手机号",
}

SUMMARY_LEADING = (
    Column("seq", "序号", 6),
    Column("district", "区县", 12),
    Column("name", "项目名称", 30),
    Column("code", "项目代码", 26),
    Column("applicant_unit", "申报单位", 24),
    Column("content_brief", "建设内容(简)", 40),
    Column("total_investment", "总投资", 14, True),
    Column("requested_amount", "申请资金", 14, True),
)
SUMMARY_TRAILING = (
    Column("period", "建设起止年限", 18),
    Column("contact_name", "联系人", 10),
    Column("contact_mobile", "电话", 14),
    Column("stage", "当前状态", 12),
)
SUMMARY_COLUMNS = SUMMARY_LEADING + FUND_COLUMNS + SUMMARY_TRAILING
SUMMARY_TOTALS = ("total_investment", "requested_amount", *(c.key for c in FUND_COLUMNS))


def _put(ws: Worksheet, row: int, col: int, value, *, money: bool = False, style=_WRAP):
    cell = ws.cell(row=row, column=col, value=safe_cell(value))
    cell.border = _BORDER
    cell.alignment = style
    if money:
        cell.number_format = MONEY_FORMAT
    return cell


def _title(ws: Worksheet, text: str, width: int) -> None:
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    cell = ws.cell(row=1, column=1, value=safe_cell(text))
    cell.font = Font(bold=True, size=16)
    cell.alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30


def _header_cell(ws: Worksheet, row: int, col: int, text: str) -> None:
    cell = _put(ws, row, col, text, style=_CENTER)
    cell.font = Font(bold=True)
    cell.fill = _HEADER_FILL


def _widths(ws: Worksheet, columns: Iterable[Column]) -> None:
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width


def _data_rows(ws: Worksheet, columns, rows: Iterable[Mapping], first_row: int) -> int:
    """Write the rows from ``first_row``; returns the next free row."""
    row_number = first_row
    for seq, row in enumerate(rows, start=1):
        for index, column in enumerate(columns, start=1):
            value = seq if column.key == "seq" else row.get(column.key)
            _put(ws, row_number, index, value, money=column.money)
        row_number += 1
    return row_number


def _to_bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def library_workbook(rows: Iterable[Mapping], *, title: str = "项目库清单") -> bytes:
    """The library list: a title, one header row (frozen), one row per project."""
    wb = Workbook()
    ws = wb.active
    ws.title = "项目库"
    _title(ws, title, len(LIBRARY_COLUMNS))
    for index, column in enumerate(LIBRARY_COLUMNS, start=1):
        _header_cell(ws, 2, index, column.header)
    _data_rows(ws, LIBRARY_COLUMNS, rows, 3)
    _widths(ws, LIBRARY_COLUMNS)
    ws.freeze_panes = "D3"
    ws.auto_filter.ref = f"A2:{get_column_letter(len(LIBRARY_COLUMNS))}{max(ws.max_row, 2)}"
    return _to_bytes(wb)


def summary_workbook(program: Mapping, rows: Iterable[Mapping]) -> bytes:
    """A program's 汇总表: merged title, two header rows (资金来源 spans its six), a total row.

    ``program`` needs ``title`` and may carry ``subtitle`` (e.g. the issuer and the date);
    rows carry the keys of SUMMARY_COLUMNS with money as Decimal.
    """
    rows = list(rows)
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总表"
    width = len(SUMMARY_COLUMNS)
    _title(ws, f"{program['title']} 项目汇总表", width)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    note = ws.cell(row=2, column=1, value=safe_cell(program.get("subtitle") or "金额单位:万元"))
    note.alignment = Alignment(horizontal="right")

    first_fund = len(SUMMARY_LEADING) + 1
    for index, column in enumerate(SUMMARY_COLUMNS, start=1):
        if first_fund <= index < first_fund + len(FUND_COLUMNS):
            _header_cell(ws, 4, index, column.header)
        else:
            _header_cell(ws, 3, index, column.header)
            _header_cell(ws, 4, index, "")
            ws.merge_cells(start_row=3, start_column=index, end_row=4, end_column=index)
    _header_cell(ws, 3, first_fund, "资金来源")
    for index in range(first_fund + 1, first_fund + len(FUND_COLUMNS)):
        _header_cell(ws, 3, index, "")
    ws.merge_cells(
        start_row=3,
        start_column=first_fund,
        end_row=3,
        end_column=first_fund + len(FUND_COLUMNS) - 1,
    )

    total_row = _data_rows(ws, SUMMARY_COLUMNS, rows, 5)
    _totals(ws, SUMMARY_COLUMNS, rows, SUMMARY_TOTALS, total_row)
    _widths(ws, SUMMARY_COLUMNS)
    _print_landscape(ws, freeze="D5", title_rows="3:4")
    return _to_bytes(wb)


def _totals(ws, columns, rows: list, keys, row: int) -> None:
    """The bold 合计 row: the count of projects and the sum of each column in ``keys``."""
    sums = {key: sum((r.get(key) or Decimal(0) for r in rows), Decimal(0)) for key in keys}
    for index, column in enumerate(columns, start=1):
        if column.key == "seq":
            value = "合计"
        elif column.key == "name":
            value = f"共 {len(rows)} 个项目"
        else:
            value = sums.get(column.key)
        _put(ws, row, index, value, money=column.money).font = Font(bold=True)


def _print_landscape(ws, *, freeze: str, title_rows: str) -> None:
    """Frozen headings, repeated on every printed page, landscape, one page wide."""
    ws.freeze_panes = freeze
    ws.print_title_rows = title_rows
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def import_template_workbook(*, categories: Iterable[str], natures: Iterable[str]) -> bytes:
    """The blank import sheet: headers (required ones marked *), a hint row, and a notes sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "项目导入"
    for index, column in enumerate(IMPORT_COLUMNS, start=1):
        mark = "*" if column.key in IMPORT_REQUIRED else ""
        _header_cell(ws, 1, index, mark + column.header)
        hint = _put(ws, 2, index, IMPORT_HINTS.get(column.key, ""), style=_WRAP)
        hint.font = Font(italic=True, color="808080")
    _widths(ws, IMPORT_COLUMNS)
    ws.freeze_panes = "A3"
    notes = wb.create_sheet("填写说明")
    lines = [
        "1. 从第 3 行起每行填写一个项目;第 2 行为填写提示,导入时跳过。",
        "2. 带 * 的列必填;其余可在系统中补充,提交申报前须填写完整。",
        "3. 金额单位为万元,最多两位小数;各项资金来源合计须等于总投资。",
        "4. 年月按「YYYY-MM」填写,例如 2026-03。",
        "5. 所属领域可填:" + "、".join(categories),
        "6. 建设性质可填:" + "、".join(natures),
        "7. 任何一行有误时整表不导入,请按错误报告修改后重新上传。",
    ]
    for number, line in enumerate(lines, start=1):
        notes.cell(row=number, column=1, value=safe_cell(line))
    notes.column_dimensions["A"].width = 90
    return _to_bytes(wb)


RESERVE_COLUMNS = (
    Column("seq", "序号", 6),
    Column("name", "项目名称", 32),
    Column("district", "区县", 12),
    Column("category", "类别", 12),
    Column("total_investment", "总投资(万元)", 14, True),
    Column("planned_amount", "计划申请资金(万元)", 16, True),
    Column("declare_year", "计划申报年度", 18),
    Column("start_year", "计划开工年度", 12),
    Column("priority", "优先级", 8),
    Column("is_key", "重点项目", 9),
    Column("maturity", "成熟度", 10),
)
RESERVE_TOTALS = ("total_investment", "planned_amount")


def _noted_table(
    sheet: str,
    columns: tuple[Column, ...],
    rows: list[Mapping],
    *,
    title: str,
    subtitle: str,
    totals: tuple[str, ...] = (),
) -> bytes:
    """A merged title, a right-aligned note row, one header row, the lines, and (with
    ``totals``) a 合计 row; headings frozen and repeated on every printed page."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    width = len(columns)
    _title(ws, title, width)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    note = ws.cell(row=2, column=1, value=safe_cell(subtitle or "金额单位:万元"))
    note.alignment = Alignment(horizontal="right")
    for index, column in enumerate(columns, start=1):
        _header_cell(ws, 3, index, column.header)
    total_row = _data_rows(ws, columns, rows, 4)
    if totals:
        _totals(ws, columns, rows, totals, total_row)
    _widths(ws, columns)
    _print_landscape(ws, freeze="C4", title_rows="3:3")
    return _to_bytes(wb)


def reserve_plan_workbook(rows: Iterable[Mapping], *, title: str, subtitle: str = "") -> bytes:
    """The rolling reserve plan (储备库滚动计划): merged title, a note row, header, lines, 合计."""
    return _noted_table(
        "储备计划",
        RESERVE_COLUMNS,
        list(rows),
        title=title,
        subtitle=subtitle,
        totals=RESERVE_TOTALS,
    )


TRACKING_COLUMNS = (
    Column("seq", "序号", 6),
    Column("project", "项目名称", 30),
    Column("district", "区县", 10),
    Column("program", "申报批次", 26),
    Column("period", "报告期", 12),
    Column("status", "状态", 10),
    Column("approved_amount", "下达金额(万元)", 14, True),
    Column("actual_start_on", "实际开工", 12),
    Column("progress_percent", "形象进度(%)", 10, True),
    Column("investment_completed", "累计完成投资(万元)", 16, True),
    Column("funds_received", "累计到位资金(万元)", 16, True),
    Column("payment_cumulative", "累计支付(万元)", 14, True),
    Column("progress_text", "形象进度说明", 36),
    Column("problems", "存在问题", 24),
)


def tracking_workbook(rows: Iterable[Mapping], *, title: str, subtitle: str = "") -> bytes:
    """The tracking reports (调度报告), one row per report, in the order given."""
    return _noted_table("调度报告", TRACKING_COLUMNS, list(rows), title=title, subtitle=subtitle)
