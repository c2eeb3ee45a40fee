"""Delegation (代理) forms: hand one's reviews to a colleague for a period."""

from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from workflow.delegations import MAX_DAYS, REASON_MAX_LENGTH

from . import BaseForm
from .fields import DayField, Required, strip


class DelegationCreateForm(BaseForm):
    """Who stands in, from when to when, and why; an admin also picks whose reviews they are.

    The choices are set by the view; the operation checks role, district, dates and overlap.
    """

    delegator_id = SelectField("委托人", coerce=int, validators=[DataRequired("请选择委托人")])
    delegate_id = SelectField("代理人", coerce=int, validators=[DataRequired("请选择代理人")])
    starts_on = DayField("开始日期", validators=[Required("请填写开始日期")])
    ends_on = DayField(
        "结束日期",
        validators=[Required("请填写结束日期")],
        description=f"含当天;到期次日自动结束,最长 {MAX_DAYS} 天",
    )
    reason = TextAreaField(
        "代理事由",
        filters=[strip],
        validators=[
            DataRequired("请填写代理事由"),
            Length(max=REASON_MAX_LENGTH, message=f"代理事由不能超过 {REASON_MAX_LENGTH} 字"),
        ],
        description="如:出差、休假、培训;将通知代理人并记入变更记录",
    )
