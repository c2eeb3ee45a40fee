"""Reserve forms (储备库): an adjustment request, the city's decision, snapshots, re-declaration."""

from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from workflow import reserve, vocab
from workflow.operations import local_today

from . import BaseForm
from .declaration import DeclarationStartForm
from .fields import MoneyField, choices, strip


class YearField(StringField):
    """A four-digit year; anything else keeps what was typed and says so in Chinese."""

    def process_formdata(self, valuelist):
        self.raw = valuelist[0].strip() if valuelist else ""
        if not self.raw:
            self.data = None
            return
        if not (self.raw.isdigit() and len(self.raw) == 4):
            self.data = None
            raise ValueError("请填写四位年份,例如 2027")
        self.data = int(self.raw)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return str(self.data) if self.data is not None else ""


def _priority(value):
    return int(value) if str(value).isdigit() else None


class AdjustmentRequestForm(BaseForm):
    """调入 / 调出 / 调整 of one project, with a reason code valid for the kind and a reason."""

    kind = SelectField(
        "调整类型",
        choices=choices(vocab.ADJUSTMENT_KINDS),
        validators=[DataRequired("请选择调整类型")],
    )
    declare_year = YearField("计划申报年度", render_kw={"inputmode": "numeric"})
    start_year = YearField("计划开工年度", render_kw={"inputmode": "numeric"})
    planned_amount = MoneyField("计划申请资金(万元)", description="可暂不填写")
    priority = SelectField(
        "优先级",
        choices=choices((str(k), v) for k, v in vocab.RESERVE_PRIORITIES.items()),
        coerce=_priority,
        default="2",
    )
    is_key = BooleanField("重点项目")
    reason_code = SelectField(
        "调整原因",
        choices=choices(vocab.RESERVE_REASONS, "请选择"),
        validators=[DataRequired("请选择调整原因")],
    )
    reason = TextAreaField(
        "调整理由",
        filters=[strip],
        validators=[DataRequired("请填写调整理由"), Length(max=2000)],
        description="写明为何调入、调出或调整,市级审批和今后对比快照时都会看到",
    )

    def plan(self) -> dict:
        """The plan values typed (for 调入 and 调整)."""
        return {
            "declare_year": self.declare_year.data,
            "start_year": self.start_year.data,
            "planned_amount": self.planned_amount.data,
            "priority": self.priority.data,
            "is_key": bool(self.is_key.data),
        }

    def validate_reason_code(self, field):
        allowed = vocab.REASONS_BY_ADJUSTMENT.get(self.kind.data, ())
        if field.data and self.kind.data in vocab.ADJUSTMENT_KINDS and field.data not in allowed:
            names = "、".join(vocab.RESERVE_REASONS[c] for c in allowed)
            raise ValidationError(f"{vocab.ADJUSTMENT_KINDS[self.kind.data]}的原因只能是:{names}")

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then the plan rules (years, amount, priority) unless it is a 调出."""
        ok = super().validate(extra_validators)
        if self.kind.data in ("admit", "change"):
            errors = reserve.plan_errors(self.plan(), local_today().year)
            for key, message in errors.items():
                field = self[key]
                if not field.errors:  # a value that could not be read already says why
                    field.errors.append(message)
                ok = False
        return ok


class AdjustmentDecisionForm(BaseForm):
    """The city's 批准 / 不予批准 with a comment, on the version the reviewer saw."""

    decision = HiddenField(validators=[DataRequired()])
    comment = TextAreaField(
        "审批意见", filters=[strip], validators=[Length(max=2000)], description="不予批准时必填"
    )
    version = HiddenField(validators=[DataRequired()])

    def validate_decision(self, field):
        if field.data not in ("approve", "reject"):
            raise ValidationError("请选择批准或不予批准")

    def validate_version(self, field):
        if not str(field.data).isdigit():
            raise ValidationError("版本号无效,请刷新页面")

    def validate_comment(self, field):
        if self.decision.data == "reject" and not field.data:
            raise ValidationError("不予批准时请填写审批意见")


class SnapshotForm(BaseForm):
    """A name for the plan as it stands now, e.g. 「2026年第二轮」."""

    label = StringField(
        "快照名称",
        filters=[strip],
        validators=[DataRequired("请填写快照名称,例如「2026年第二轮」"), Length(max=100)],
    )


class RedeclareForm(DeclarationStartForm):
    """Pick the open program a reserve project is declared to (and why, if the guard warns)."""
