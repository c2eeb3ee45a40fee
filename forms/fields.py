"""Fields and validators shared by the forms, backed by the rules in ``workflow.rules``."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from wtforms import Field, StringField
from wtforms.validators import ValidationError
from wtforms.widgets import Input

from workflow import rules


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
        if value.as_tuple().exponent < -2:
            self.data = None
            raise ValueError("金额最多保留两位小数(单位:万元)")
        if value >= Decimal("1e12"):
            self.data = None
            raise ValueError("金额过大")
        self.data = value.quantize(Decimal("0.01"))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:.2f}" if self.data is not None else ""


class MonthInput(Input):
    input_type = "month"


class MonthField(Field):
    """A year and month (YYYY-MM), stored as the first day of the month."""

    widget = MonthInput()

    def process_formdata(self, valuelist):
        raw = valuelist[0].strip() if valuelist else ""
        if not raw:
            self.data = None
            return
        try:
            self.data = datetime.strptime(raw, "%Y-%m").date()
        except ValueError as exc:
            self.data = None
            raise ValueError("请按「年-月」填写,例如 2026-03") from exc

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return self.data.strftime("%Y-%m") if isinstance(self.data, date) else ""


def project_code(form, field):
    """项目代码: shape, year, and a region inside the city."""
    if field.data:
        error = rules.project_code_error(field.data, current_app.config["CITY_CODE"])
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


def upper_strip(value):
    """Trim and upper-case (credit codes are printed in capitals)."""
    return strip(value).upper() if isinstance(value, str) else value
