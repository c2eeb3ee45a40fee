"""Forms of the warning rules and of rectification (预警规则与整改)."""

from decimal import Decimal, InvalidOperation

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from workflow import vocab
from workflow.early_warning import MAX_RECTIFY_DAYS

from . import BaseForm
from .fields import Required, choices, strip

# The condition rows of the form (early_warning.MAX_CONDITIONS of them).
CONDITION_ROWS = (1, 2, 3)


def _digits(form, field):
    if field.data and not str(field.data).isdigit():
        raise ValidationError("版本号无效,请刷新页面")


def _threshold(form, field):
    if not field.data:
        return
    try:
        value = Decimal(field.data)
    except InvalidOperation as exc:
        raise ValidationError("阈值应为数字") from exc
    if not value.is_finite():
        raise ValidationError("阈值应为数字")
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError("阈值最多保留两位小数")


def _measure(n: int) -> SelectField:
    # A row left out of the post reads as blank, not as an invalid choice.
    return SelectField(
        f"条件{n} 监测指标", choices=choices(vocab.WARNING_MEASURES, "(不设置)"), default=""
    )


def _op(n: int) -> SelectField:
    return SelectField(f"条件{n} 比较", choices=choices(vocab.WARNING_OPERATORS, "—"), default="")


def _value(n: int) -> StringField:
    return StringField(
        f"条件{n} 阈值",
        filters=[strip],
        validators=[_threshold],
        render_kw={"inputmode": "decimal"},
    )


class WarningRuleForm(BaseForm):
    """A rule: its name, level, up to three conditions, the rectification it asks for."""

    name = StringField(
        "规则名称", filters=[strip], validators=[Required("请填写规则名称"), Length(max=100)]
    )
    description = TextAreaField("说明", filters=[strip], validators=[Length(max=2000)])
    level = SelectField(
        "预警等级", choices=choices(vocab.WARNING_LEVELS), validators=[Required("请选择预警等级")]
    )
    rectify_working_days = IntegerField(
        "整改期限(工作日)",
        validators=[
            Required("请填写整改期限"),
            NumberRange(1, MAX_RECTIFY_DAYS, f"整改期限应为 1–{MAX_RECTIFY_DAYS} 个工作日"),
        ],
        description="从触发预警之日起算",
    )
    evidence_required = TextAreaField(
        "整改佐证要求", filters=[strip], validators=[Length(max=2000)]
    )
    enabled = BooleanField("启用")
    measure_1 = _measure(1)
    op_1 = _op(1)
    value_1 = _value(1)
    measure_2 = _measure(2)
    op_2 = _op(2)
    value_2 = _value(2)
    measure_3 = _measure(3)
    op_3 = _op(3)
    value_3 = _value(3)
    version = HiddenField(validators=[_digits])

    def validate(self, extra_validators=None) -> bool:
        """The fields, then the conditions as a whole (1–3 complete rows)."""
        ok = super().validate(extra_validators)
        filled = [n for n in CONDITION_ROWS if self._row_filled(n)]
        for n in filled:
            measure, op, value = self._row(n)
            if not measure.data:
                measure.errors = [*measure.errors, "请选择监测指标"]
            if not op.data:
                op.errors = [*op.errors, "请选择比较方式"]
            if not value.errors and not value.data:
                value.errors = [*value.errors, "请填写阈值"]
            ok = ok and not (measure.errors or op.errors or value.errors)
        if not filled:
            self.measure_1.errors = [*self.measure_1.errors, "请至少设置一个条件"]
            ok = False
        return ok

    def _row(self, n: int):
        return self[f"measure_{n}"], self[f"op_{n}"], self[f"value_{n}"]

    def _row_filled(self, n: int) -> bool:
        return any(f.data or (f.raw_data and f.raw_data[0].strip()) for f in self._row(n))

    def conditions(self) -> list[dict]:
        """The filled condition rows, in order."""
        rows = []
        for n in CONDITION_ROWS:
            if self._row_filled(n):
                measure, op, value = self._row(n)
                rows.append({"measure": measure.data, "op": op.data, "value": value.data})
        return rows

    def set_conditions(self, conditions: list[dict]) -> None:
        """Show a rule's conditions in the rows."""
        for n in CONDITION_ROWS:
            measure, op, value = self._row(n)
            condition = conditions[n - 1] if n <= len(conditions) else {}
            measure.data = condition.get("measure", "")
            op.data = condition.get("op", "")
            value.data = condition.get("value", "")

    def values(self) -> dict:
        """The rule as the operations take it."""
        return {
            **self.cleaned(
                "name",
                "description",
                "level",
                "rectify_working_days",
                "evidence_required",
                "enabled",
            ),
            "conditions": self.conditions(),
        }


class RectificationForm(BaseForm):
    """The 整改情况说明, saved as it is or submitted for the closing review."""

    response = TextAreaField("整改情况说明", filters=[strip], validators=[Length(max=4000)])
    action = HiddenField()
    version = HiddenField(validators=[_digits])

    def validate_action(self, field):
        if field.data not in ("save", "submit"):
            raise ValidationError("请选择保存或提交")


class EvidenceForm(BaseForm):
    """One evidence file."""

    file = FileField(
        "整改佐证", validators=[FileRequired("请选择要上传的文件")], description="PDF、JPG、PNG"
    )


class RectificationReviewForm(BaseForm):
    """The city's 审核销号 / 退回整改 with a comment, on the version seen."""

    decision = HiddenField(validators=[DataRequired("请选择销号或退回整改")])
    comment = TextAreaField(
        "审核意见", filters=[strip], validators=[Length(max=2000)], description="退回整改时必填"
    )
    version = HiddenField(validators=[DataRequired(), _digits])

    def validate_decision(self, field):
        if field.data not in ("close", "return"):
            raise ValidationError("请选择销号或退回整改")

    def validate_comment(self, field):
        if self.decision.data == "return" and not field.data:
            raise ValidationError("退回整改时请填写审核意见")


class CheckForm(BaseForm):
    """Only the CSRF token: 立即检查."""
