"""Collection call forms (征集通知): the city's call, a district's proposal, the city's decision."""

from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from workflow import vocab
from workflow.calls import MAX_REMIND_WORKING_DAYS
from workflow.operations import local_today

from . import BaseForm
from .fields import DayField, Required, choices, strip
from .program import CheckboxesField


def _optional_int(value):
    """A select's blank option as None, anything else as an int."""
    if value in (None, "", "None"):
        return None
    return int(value)


class CollectionCallForm(BaseForm):
    """A call's notice, purpose, target districts and deadline; choices are set by the view."""

    title = StringField(
        "征集通知标题",
        filters=[strip],
        validators=[
            DataRequired("请填写征集通知标题"),
            Length(max=200, message="标题不能超过 200 字"),
        ],
    )
    purpose = SelectField(
        "征集用途",
        choices=choices(vocab.CALL_PURPOSES),
        validators=[DataRequired("请选择征集用途")],
    )
    program_id = SelectField(
        "申报批次", coerce=_optional_int, description="专项申报征集必选;年度储备征集不选"
    )
    year = IntegerField(
        "年度",
        validators=[Optional(), NumberRange(2000, 2100, "年度不合理")],
        description="年度储备征集必填;专项申报征集留空时取申报批次的年度",
    )
    districts = CheckboxesField("征集区县")
    deadline = DayField("截止日期", validators=[Required("请填写截止日期")])
    remind_working_days = IntegerField(
        "截止前提醒(工作日)",
        default=3,
        validators=[
            Required("请填写截止前几个工作日提醒"),
            NumberRange(
                0,
                MAX_REMIND_WORKING_DAYS,
                f"请填写 0 到 {MAX_REMIND_WORKING_DAYS} 之间的整数",
            ),
        ],
        description="按法定节假日和调休计算工作日;0 表示截止当天提醒",
    )
    notice = TextAreaField(
        "通知正文", filters=[strip], validators=[Length(max=20000, message="正文不能超过 20000 字")]
    )
    version = HiddenField()

    def set_choices(self, programs, districts) -> None:
        """The programs a call may be for and the districts it may target."""
        self.program_id.choices = choices(
            ((p.id, f"{p.title}({p.status_label})") for p in programs), "不选(年度储备征集)"
        )
        self.districts.choices = choices((str(d.id), d.name) for d in districts)

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then what the purpose asks for and a deadline not in the past."""
        ok = super().validate(extra_validators)
        if self.purpose.data == "program" and self.program_id.data is None:
            self.program_id.errors.append("专项申报征集须选择申报批次")
            ok = False
        if self.purpose.data == "reserve" and self.year.data is None and not self.year.errors:
            self.year.errors.append("年度储备征集须填写年度")
            ok = False
        if not self.districts.data:
            self.districts.errors.append("请至少选择一个征集区县")
            ok = False
        return ok

    def validate_deadline(self, field):
        today = local_today()
        # An existing call may keep a deadline that has passed since; a new one may not.
        if field.data and field.data < today and field.data != getattr(self, "kept_deadline", None):
            raise ValidationError(f"截止日期不能早于今天({today.isoformat()})")

    def call_values(self) -> dict:
        """The form's values in the operation's terms."""
        return {
            "title": self.title.data,
            "purpose": self.purpose.data,
            "program_id": self.program_id.data if self.purpose.data == "program" else None,
            "year": self.year.data,
            "notice": self.notice.data or "",
            "deadline": self.deadline.data,
            "remind_working_days": self.remind_working_days.data,
            "district_ids": [int(v) for v in self.districts.data or []],
        }


class ProposalForm(BaseForm):
    """One of the district's own projects to put on a call, with a note; choices set by the view."""

    project_id = SelectField("项目", coerce=_optional_int)
    note = TextAreaField(
        "报送说明", filters=[strip], validators=[Length(max=2000, message="说明不能超过 2000 字")]
    )

    def set_projects(self, projects) -> None:
        """The projects the user may put on the call."""
        self.project_id.choices = choices(
            ((p.id, f"{p.name}({p.code})" if p.code else p.name) for p in projects), "请选择项目"
        )

    def validate_project_id(self, field):
        if field.data is None:
            raise ValidationError("请选择要报送的项目")


class DecisionForm(BaseForm):
    """The city's comment on a proposal, and the version it saw."""

    comment = TextAreaField(
        "意见", filters=[strip], validators=[Length(max=2000, message="意见不能超过 2000 字")]
    )
    version = HiddenField()

    def seen_version(self) -> int | None:
        """The version the user saw, when the page sent one."""
        return int(self.version.data) if str(self.version.data or "").isdigit() else None
