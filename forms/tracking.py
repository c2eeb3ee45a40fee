"""Tracking report forms (调度报告): the periodic figures and texts, and the reviewer's verdict."""

from datetime import date
from decimal import Decimal, InvalidOperation

from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from workflow import vocab

from . import BaseForm
from .fields import CENT, DayField, MoneyField, Required, choices, strip


def _period(value) -> date | None:
    """A period option's value (YYYY-MM-DD) as a date; None when blank or unreadable."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class PercentField(StringField):
    """A percentage from 0 to 100 with at most two decimals, as a Decimal."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "placeholder": "%"})
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        raw = valuelist[0].strip().rstrip("%\uff05").strip() if valuelist else ""
        self.data = None
        if not raw:
            return
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise ValueError("请输入 0–100 之间的数字") from exc
        if not value.is_finite() or value < 0 or value > 100:
            raise ValueError("请输入 0–100 之间的数字")
        if value.quantize(CENT) != value:
            raise ValueError("最多保留两位小数")
        self.data = value

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:.2f}" if self.data is not None else ""


class ReportForm(BaseForm):
    """One period's report: progress, cumulative investment, funds received by source, payment."""

    period = SelectField("报告期", coerce=_period, validators=[Required("请选择报告期")])
    actual_start_on = DayField(
        "实际开工日期", validators=[Optional()], description="尚未开工可不填"
    )
    progress_text = TextAreaField("形象进度说明", filters=[strip], validators=[Length(max=4000)])
    progress_percent = PercentField("形象进度(%)")
    investment_completed = MoneyField("累计完成投资(万元)")
    received_central = MoneyField(f"{vocab.RECEIVED_SOURCES['received_central']}(万元)")
    received_provincial = MoneyField(f"{vocab.RECEIVED_SOURCES['received_provincial']}(万元)")
    received_local = MoneyField(f"{vocab.RECEIVED_SOURCES['received_local']}(万元)")
    received_self = MoneyField(f"{vocab.RECEIVED_SOURCES['received_self']}(万元)")
    received_loan = MoneyField(f"{vocab.RECEIVED_SOURCES['received_loan']}(万元)")
    received_other = MoneyField(f"{vocab.RECEIVED_SOURCES['received_other']}(万元)")
    payment_cumulative = MoneyField("累计支付(万元)")
    problems = TextAreaField("存在问题", filters=[strip], validators=[Length(max=4000)])
    suggestions = TextAreaField("意见建议", filters=[strip], validators=[Length(max=4000)])
    correction_reason = TextAreaField(
        "更正说明",
        filters=[strip],
        validators=[Length(max=2000)],
        description="累计数小于上期已审核报告时必填",
    )
    explanation = TextAreaField(
        "情况说明",
        filters=[strip],
        validators=[Length(max=2000)],
        description="累计支付超过到位资金,或到位资金超过下达金额时必填",
    )
    version = HiddenField()

    def set_periods(self, options: list[tuple[date, str]]) -> None:
        """Offer these (period, label) pairs in the 报告期 select."""
        self.period.choices = choices(
            ((p.isoformat(), label) for p, label in options), "请选择报告期"
        )

    def validate_version(self, field):
        if field.data and not str(field.data).isdigit():
            raise ValidationError("版本号无效,请刷新页面")

    def values(self) -> dict:
        """The report's fields as the tracking operations take them."""
        return self.cleaned(
            "actual_start_on",
            "progress_text",
            "progress_percent",
            "investment_completed",
            *vocab.RECEIVED_SOURCES,
            "payment_cumulative",
            "problems",
            "suggestions",
            "correction_reason",
            "explanation",
        )


class ReviewForm(BaseForm):
    """The district reviewer's 审核通过 / 退回修改 with a comment, on the version seen."""

    decision = HiddenField(validators=[DataRequired("请选择审核通过或退回修改")])
    comment = TextAreaField(
        "审核意见", filters=[strip], validators=[Length(max=2000)], description="退回修改时必填"
    )
    version = HiddenField(validators=[DataRequired()])

    def validate_decision(self, field):
        if field.data not in ("accept", "return"):
            raise ValidationError("请选择审核通过或退回修改")

    def validate_version(self, field):
        if not str(field.data).isdigit():
            raise ValidationError("版本号无效,请刷新页面")

    def validate_comment(self, field):
        if self.decision.data == "return" and not field.data:
            raise ValidationError("退回修改时请填写审核意见")


class SubmitReportForm(BaseForm):
    """Only the CSRF token and the version the staff member saw."""

    version = HiddenField()


class ReportPhotoForm(BaseForm):
    """One site photo."""

    file = FileField(
        "现场照片", validators=[FileRequired("请选择要上传的照片")], description="JPG、PNG"
    )


class MonthlyReportRequestForm(BaseForm):
    """Ask for a month's tracking report PDF: the month, and for the city the district (or all)."""

    month = SelectField("月份", coerce=_period, validators=[Required("请选择月份")])
    district_id = SelectField("范围", default="")

    def set_options(self, months: list[tuple[date, str]], districts: list[tuple[int, str]]):
        """The months on offer, and the districts (none for a district user)."""
        self.month.choices = choices([(m.isoformat(), label) for m, label in months])
        self.district_id.choices = choices([(str(i), name) for i, name in districts], blank="全市")
        # A district user's report always covers their own district (workflow/monthly.py), so
        # whatever arrives in this field is ignored rather than refused.
        self.district_id.validate_choice = bool(districts)

    def district(self) -> int | None:
        """The chosen district's id, or None for the whole city."""
        value = self.district_id.data
        return int(value) if value and str(value).isdigit() else None
