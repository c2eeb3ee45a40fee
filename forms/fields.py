"""Fields and validators shared by the forms, backed by the rules in ``workflow.rules``."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from wtforms import DateField, Field, StringField
from wtforms.validators import StopValidation, ValidationError
from wtforms.widgets import MonthInput

from workflow import rules
from workflow.operations import local_today

try:
    from wtforms import SelectChoice
except ImportError:  # WTForms < 3.3 takes plain (value, label) pairs
    SelectChoice = None

CENT = Decimal("0.01")


def choices(options, blank: str | None = None) -> list:
    """Select options from a code→label table or (value, label) pairs, a blank one first if asked.

    WTForms 3.3 deprecates tuples in favour of SelectChoice; older releases only know tuples.
    """
    pairs = list(options.items()) if isinstance(options, dict) else list(options)
    if blank is not None:
        pairs.insert(0, ("", blank))
    if SelectChoice is None:
        return pairs
    return [SelectChoice(value, label) for value, label in pairs]


class MoneyField(StringField):
    """An amount in 万元: a Decimal with at most two decimals, never a float."""

    def __init__(self, label=None, validators=None, *, allow_zero=True, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "placeholder": "万元"})
        super().__init__(label, validators, **kwargs)
        self.allow_zero = allow_zero

    def process_formdata(self, valuelist):
        self.raw = valuelist[0].strip().replace(",", "").replace(",", "") if valuelist else ""
        if not self.raw:
            self.data = None
            return
        try:
            value = Decimal(self.raw)
        except InvalidOperation as exc:
            self.data = None
            raise ValueError("请输入数字金额(单位:万元)") from exc
        if not value.is_finite():
            self.data = None
            raise ValueError("请输入数字金额(单位:万元)")
        if value < 0 or (value == 0 and not self.allow_zero):
            self.data = None
            raise ValueError("金额不能为负数" if value < 0 else "金额必须大于 0")
        if value >= Decimal("1e12"):
            self.data = None
            raise ValueError("金额过大")
        cents = value.quantize(CENT)
        # "1.50" and "1.500" are the same amount; only digits past the cent are refused.
        if cents != value:
            self.data = None
            raise ValueError("金额最多保留两位小数(单位:万元)")
        self.data = cents

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:.2f}" if self.data is not None else ""


def _parse_date(valuelist, fmt: str, message: str) -> date | None:
    """The typed date, None when blank; a ValueError with a Chinese message when unreadable."""
    raw = valuelist[0].strip() if valuelist else ""
    if not raw:
        return None
    try:
        return datetime.strptime(raw, fmt).date()
    except ValueError as exc:
        raise ValueError(message) from exc


class DayField(DateField):
    """A calendar date (YYYY-MM-DD) with a Chinese message when it cannot be read."""

    def process_formdata(self, valuelist):
        self.data = _parse_date(valuelist, "%Y-%m-%d", "请按「年-月-日」填写日期,例如 2026-03-15")


class MonthField(Field):
    """A year and month (YYYY-MM), stored as the first day of the month."""

    widget = MonthInput()

    def process_formdata(self, valuelist):
        self.data = _parse_date(valuelist, "%Y-%m", "请按「年-月」填写,例如 2026-03")

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return self.data.strftime("%Y-%m") if isinstance(self.data, date) else ""


class Required:
    """Like DataRequired, but a value that could not be read keeps its own message.

    DataRequired would replace "请按「年-月-日」填写" with "请填写…" and tell the user the
    field is empty when they did type something.
    """

    field_flags = {"required": True}

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        raw = field.raw_data[0] if field.raw_data else ""
        typed = not isinstance(raw, str) or bool(raw.strip())
        if field.process_errors and typed:
            raise StopValidation()  # the conversion message is already in field.errors
        if not typed or field.data is None or (isinstance(field.data, str) and not field.data):
            field.errors[:] = []
            raise StopValidation(self.message)


def project_code(form, field):
    """项目代码: shape, year, and a region inside the city."""
    if field.data:
        error = rules.project_code_error(field.data, current_app.config["CITY_CODE"], local_today())
        if error:
            raise ValidationError(error)


def credit_code(form, field):
    """统一社会信用代码 with its checksum."""
    if field.data:
        error = rules.uscc_error(field.data)
        if error:
            raise ValidationError(error)


def mobile(form, field):
    """An 11-digit mainland mobile number."""
    if field.data:
        error = rules.mobile_error(field.data)
        if error:
            raise ValidationError(error)


def strip(value):
    """Trim surrounding spaces, full-width ones included."""
    return value.strip().strip("\u3000") if isinstance(value, str) else value


def blank_to_none(value):
    """An empty answer stored as NULL (for optional identifiers such as codes)."""
    return value or None


def upper_strip(value):
    """Trim and upper-case (credit codes are printed in capitals)."""
    return strip(value).upper() if isinstance(value, str) else value
