"""The project form (项目信息) and its preliminary-approval documents (前期要件)."""

from flask import current_app
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from workflow import rules, vocab

from . import BaseForm
from .fields import (
    DayField,
    MoneyField,
    MonthField,
    Required,
    blank_to_none,
    choices,
    credit_code,
    mobile,
    project_code,
    strip,
    upper_strip,
)


class ProjectEditForm(BaseForm):
    """Every field of a project; blanks are allowed while drafting, formats are always checked."""

    code = StringField(
        "项目代码",
        filters=[strip, blank_to_none],
        validators=[Optional(), Length(max=24), project_code],
        description="国家投资项目在线审批监管平台赋码,24 位,申报前必填",
    )
    name = StringField(
        "项目名称", filters=[strip], validators=[DataRequired("请填写项目名称"), Length(max=200)]
    )
    applicant_unit = StringField("申报单位", filters=[strip], validators=[Length(max=200)])
    applicant_uscc = StringField(
        "统一社会信用代码",
        filters=[upper_strip, blank_to_none],
        validators=[Optional(), credit_code],
    )
    category = SelectField(
        "所属领域", choices=choices(vocab.CATEGORIES), validators=[DataRequired("请选择所属领域")]
    )
    industry_chain = SelectField("产业链", choices=[], default="")
    # A blank choice means "not decided yet" and is stored as NULL (the column's check allows it).
    nature = SelectField(
        "建设性质", choices=choices(vocab.NATURES, "请选择"), coerce=lambda v: v or None
    )
    location = StringField("建设地点", filters=[strip], validators=[Length(max=200)])
    planned_start = MonthField("拟开工年月")
    planned_end = MonthField("拟建成年月")
    total_investment = MoneyField("总投资(万元)")
    fund_central = MoneyField("中央资金(万元)")
    fund_provincial = MoneyField("省级资金(万元)")
    fund_local_fiscal = MoneyField("地方财政配套(万元)")
    fund_self = MoneyField("企业自筹(万元)")
    fund_loan = MoneyField("银行贷款(万元)")
    fund_other = MoneyField("其他资金(万元)")
    content = TextAreaField("建设内容", filters=[strip], validators=[Length(max=5000)])
    data_content = TextAreaField(
        "含数量(数据资源、公共数据、数据量、数据产品、算力)",
        filters=[strip],
        validators=[Length(max=5000)],
    )
    is_key = BooleanField("重点项目")
    contact_name = StringField("联系人", filters=[strip], validators=[Length(max=50)])
    contact_mobile = StringField("联系电话(手机)", filters=[strip], validators=[Optional(), mobile])
    # Asked for only when the overlap guard warns (workflow/overlap.py); the operation decides.
    overlap_reason = TextAreaField(
        "继续的理由",
        filters=[strip],
        validators=[Length(max=2000)],
        description="说明为何不属于重复或交叉申报,将记入变更记录并打印在申报材料中",
    )
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        chains = current_app.config.get("INDUSTRY_CHAINS") or []
        self.industry_chain.choices = choices([(c, c) for c in chains], "不属于特定产业链")

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then the rules that span fields: money adds up, dates in order."""
        ok = super().validate(extra_validators)
        sources = {name: getattr(self, name).data for name in vocab.FUND_SOURCES}
        error = rules.funding_sum_error(self.total_investment.data, sources)
        if error:
            self.total_investment.errors.append(error)
            ok = False
        error = rules.date_order_error(
            self.planned_start.data, self.planned_end.data, "拟开工年月", "拟建成年月"
        )
        if error:
            self.planned_end.errors.append(error)
            ok = False
        return ok


class PrerequisiteForm(BaseForm):
    """One preliminary approval document."""

    kind = SelectField(
        "要件类型",
        choices=choices(vocab.PREREQUISITE_KINDS),
        validators=[DataRequired("请选择要件类型")],
    )
    doc_number = StringField(
        "文号", filters=[strip], validators=[DataRequired("请填写文号"), Length(max=100)]
    )
    issued_on = DayField("印发日期", validators=[Required("请填写印发日期")])
    valid_until = DayField("有效期至", validators=[Optional()], description="留空表示长期有效")

    def validate_valid_until(self, field):
        if field.data and self.issued_on.data and field.data < self.issued_on.data:
            raise ValidationError("有效期不能早于印发日期")


class VersionForm(BaseForm):
    """Only a CSRF token and the version the user saw (for delete-style buttons)."""

    version = IntegerField(validators=[Optional()])


class MaturityActionForm(BaseForm):
    """A maturity change (纳入储备, 出库, ...) with its reason and the version the user saw."""

    action = HiddenField(validators=[DataRequired()])
    reason = TextAreaField("原因", filters=[strip], validators=[Length(max=2000)])
    version = HiddenField(validators=[DataRequired()])

    def validate_version(self, field):
        if not str(field.data).isdigit():
            raise ValidationError("版本号无效,请刷新页面")


class ProjectImportForm(BaseForm):
    """A filled-in import template (.xlsx); its rows are checked by ``workflow.excel``."""

    file = FileField(
        "Excel 文件",
        validators=[
            FileRequired("请选择要上传的 Excel 文件"),
            FileAllowed(["xlsx"], "只能上传 .xlsx 格式的 Excel 文件,请下载导入模板填写后上传"),
        ],
        description="使用导入模板填写的 .xlsx 文件",
    )
