"""The funding program form (申报批次), for the city and administrators."""

from decimal import Decimal

from wtforms import (
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from workflow import machine, vocab

from . import BaseForm
from .fields import DayField, MoneyField, Required, choices, strip


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # WTForms' own message for this case is untranslated (fuzzy in its Chinese catalogue).
        known = {str(choice[0]) for choice in self.iter_choices()}
        unknown = [value for value in self.data or [] if value not in known]
        if unknown:
            raise ValidationError("不是有效的选项:" + "、".join(unknown))


class ProgramEditForm(BaseForm):
    """Everything a program defines: who issues it, its windows, limits and requirements."""

    title = StringField(
        "批次名称", filters=[strip], validators=[DataRequired("请填写批次名称"), Length(max=200)]
    )
    level = SelectField("级别", choices=choices(vocab.LEVELS))
    issuer = StringField(
        "发文单位", filters=[strip], validators=[DataRequired("请填写发文单位"), Length(max=100)]
    )
    channel = SelectField("资金渠道", choices=choices(vocab.CHANNELS))
    year = IntegerField(
        "年度", validators=[Required("请填写年度"), NumberRange(2000, 2100, "年度不合理")]
    )
    batch = StringField("批次", filters=[strip], validators=[Length(max=50)])
    support_areas = TextAreaField("支持领域", filters=[strip], validators=[Length(max=2000)])
    notice = TextAreaField("申报通知", filters=[strip], validators=[Length(max=20000)])
    opens_on = DayField("开放日期", validators=[Required("请填写开放日期")])
    district_deadline = DayField("区县申报截止", validators=[Required("请填写区县截止日期")])
    city_deadline = DayField("市级审核截止", validators=[Required("请填写市级截止日期")])
    upstream_deadline = DayField("上报截止", validators=[Optional()])
    min_request = MoneyField("申请资金下限(万元)")
    max_request = MoneyField("申请资金上限(万元)")
    max_ratio_percent = MoneyField("申请资金占总投资比例上限(%)")
    required_attachments = CheckboxesField("必备附件", choices=choices(vocab.ATTACHMENT_KINDS))
    required_prerequisites = CheckboxesField(
        "必备前期要件", choices=choices(vocab.PREREQUISITE_KINDS)
    )
    workflow_name = SelectField(
        "审核流程",
        choices=lambda: choices(machine.workflow_names()),
        default="default",  # the model's default: a form posted without it keeps the standard
        description="新建的申报按该流程的最新版本流转;已有申报保持原流程",
    )
    status = SelectField("状态", choices=choices(vocab.PROGRAM_STATUSES))
    version = HiddenField()

    def validate(self, extra_validators=None) -> bool:
        """Windows in order and limits that make sense."""
        ok = super().validate(extra_validators)
        dates = [
            ("opens_on", "开放日期"),
            ("district_deadline", "区县申报截止"),
            ("city_deadline", "市级审核截止"),
            ("upstream_deadline", "上报截止"),
        ]
        for (earlier, earlier_label), (later, later_label) in zip(dates, dates[1:], strict=False):
            a, b = self[earlier].data, self[later].data
            if a and b and b < a:
                self[later].errors.append(f"{later_label}不能早于{earlier_label}")
                ok = False
        low, high = self.min_request.data, self.max_request.data
        if low is not None and high is not None and high < low:
            self.max_request.errors.append("上限不能低于下限")
            ok = False
        return ok

    def validate_max_ratio_percent(self, field):
        if field.data is not None and not Decimal(0) < field.data <= Decimal(100):
            raise ValidationError("比例应在 0 到 100 之间")

    def program_values(self) -> dict:
        """The form's values in the model's terms (the ratio as a fraction)."""
        values = self.cleaned()
        percent = values.pop("max_ratio_percent")
        values["max_ratio"] = percent / 100 if percent is not None else None
        return values
