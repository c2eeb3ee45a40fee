"""Declaration forms: the program's own form, attachments, and review actions."""

from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from workflow import rules, vocab

from . import BaseForm
from .fields import DayField, MoneyField, choices, strip


class DeclarationStartForm(BaseForm):
    """Pick an open program to declare a project to."""

    program_id = SelectField("申报批次", coerce=int, validators=[DataRequired("请选择申报批次")])
    # Asked for only when the overlap guard warns (workflow/overlap.py); the operation decides.
    overlap_reason = TextAreaField(
        "继续的理由",
        filters=[strip],
        validators=[Length(max=2000)],
        description="说明为何不属于重复或交叉申报,将记入变更记录并打印在申报材料中",
    )


class DeclarationEditForm(BaseForm):
    """The requested amount plus the program's own fields, added per program at run time."""

    requested_amount = MoneyField("申请资金(万元)", allow_zero=False)
    version = HiddenField()

    program = None
    project = None

    def validate_requested_amount(self, field):
        errors = rules.requested_amount_errors(
            field.data, self.project.total_investment, self.program
        )
        if errors:
            raise ValidationError(";".join(errors))

    def form_data(self) -> dict[str, str]:
        """The program-specific answers keyed by their field names."""
        return {f["name"]: self[f"f_{f['name']}"].data or "" for f in self.program.form_fields}


# A program field without its own limit still gets one: the JSON column would take anything.
DEFAULT_FIELD_MAX_LENGTH = 5000


def field_max_length(spec: dict) -> int:
    """The most characters a program's form field takes (the API applies the same limit)."""
    return spec.get("max_length") or DEFAULT_FIELD_MAX_LENGTH


def declaration_edit_form(program, project, **kwargs) -> DeclarationEditForm:
    """A form class for this program's field list, bound to the request or the given data."""

    class ProgramDeclarationForm(DeclarationEditForm):
        pass

    for spec in program.form_fields or []:
        max_length = field_max_length(spec)
        field_class = TextAreaField if spec.get("kind", "textarea") == "textarea" else StringField
        setattr(
            ProgramDeclarationForm,
            f"f_{spec['name']}",
            field_class(
                spec["label"],
                filters=[strip],
                validators=[
                    Length(max=max_length, message=f"「{spec['label']}」不能超过 {max_length} 字")
                ],
                description=("提交前必填," if spec.get("required") else "")
                + f"不超过 {max_length} 字",
            ),
        )
    ProgramDeclarationForm.program = program
    ProgramDeclarationForm.project = project
    return ProgramDeclarationForm(**kwargs)


class AttachmentUploadForm(BaseForm):
    """One file with its kind."""

    kind = SelectField(
        "附件类型",
        choices=choices(vocab.ATTACHMENT_KINDS),
        validators=[DataRequired("请选择附件类型")],
    )
    file = FileField(
        "文件",
        validators=[FileRequired("请选择要上传的文件")],
        description="PDF、JPG、PNG、DOCX、XLSX",
    )


class ReviewActionForm(BaseForm):
    """A workflow action with its comment; the version guards against acting on stale data."""

    action = HiddenField(validators=[DataRequired()])
    comment = TextAreaField("意见", filters=[strip], validators=[Length(max=2000)])
    version = HiddenField(validators=[DataRequired()])
    # Only for record_approval (登记批复).
    approval_doc_number = StringField(
        "批复文号", filters=[strip], validators=[Optional(), Length(max=100)]
    )
    approved_amount = MoneyField("下达金额(万元)")
    approved_on = DayField("批复日期", validators=[Optional()])
    # The fund channel the money came through; blank means the program's own channel.
    approved_channel = SelectField(
        "资金渠道", choices=choices(vocab.CHANNELS, blank="同申报批次"), default=""
    )
    # A delegate acting for a reviewer (代理) names them; the view checks the delegation.
    on_behalf_of = HiddenField()

    def validate_version(self, field):
        if not str(field.data).isdigit():
            raise ValidationError("版本号无效,请刷新页面")
