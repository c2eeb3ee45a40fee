"""Signing in and out."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from forms.auth import LoginForm

from ..extensions import db
from ..models import User

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot bounce users to another site."""
    if (
        target
        and not urlsplit(target).netloc
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target  # browsers read "/\\evil.example" as "//evil.example"
    ):
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("用户名或密码错误")
        elif not user.active:
            form.username.errors.append("该账号已停用,请联系管理员")
        else:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out; signing out twice (an expired session, a second tab) is not an error."""
    if current_user.is_authenticated:
        logout_user()
        flash("已退出登录", "info")
    return redirect(url_for("auth.login"))
