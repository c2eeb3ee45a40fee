"""Sign-in."""

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from . import BaseForm


class LoginForm(BaseForm):
    """Username and password."""

    username = StringField("用户名", validators=[DataRequired("请输入用户名")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])
