"""The city's invitation to districts to declare reserve projects matched to a program."""

from wtforms import Field, TextAreaField
from wtforms.validators import Length, StopValidation
from wtforms.widgets import HiddenInput

from . import BaseForm
from .fields import strip


class IdListField(Field):
    """The ids of the ticked rows; the list itself is the page's checkboxes, not a select."""

    widget = HiddenInput()

    def process_formdata(self, valuelist):
        ids = []
        for value in valuelist:
            if not str(value).isdigit():
                self.data = []
                raise ValueError("所选项目无效,请刷新页面后重新勾选")
            ids.append(int(value))
        self.data = list(dict.fromkeys(ids))

    def _value(self):
        return ""


def at_least_one(form, field):
    """Something must be ticked."""
    if not field.errors and not field.data:
        raise StopValidation("请至少勾选一个项目")


class InvitationForm(BaseForm):
    """Which projects to invite, and a note the districts will read."""

    project_ids = IdListField("项目", validators=[at_least_one])
    message = TextAreaField(
        "邀请说明",
        filters=[strip],
        validators=[Length(max=500, message="邀请说明不能超过 500 字")],
        description="选填,区县填报员会在待办消息中看到",
    )
