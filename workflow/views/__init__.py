"""Web pages. Views read the request, call a form and an operation, and commit once."""

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlsplit

from flask import Flask, Response, abort, flash, redirect, render_template, request, send_file
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..api import HTTP_CODES as api_codes
from ..api import is_api_request
from ..api.errors import error_response
from ..errors import OperationError
from ..extensions import db, login_manager
from ..formatting import file_size
from ..models import User
from ..operations import local_today
from ..storage import dossier_path

log = logging.getLogger(__name__)


def send_download(path: Path, mimetype: str, name: str, *, fallback: str) -> Response:
    """A file as an attachment under its (Chinese) name, RFC 6266/5987 encoded.

    Werkzeug's own ASCII fallback strips Chinese characters and can leave "().pdf"; old
    clients that ignore ``filename*`` get a plain, meaningful name instead.
    """
    response = send_file(path, mimetype=mimetype, as_attachment=True, download_name=fallback)
    response.headers["Content-Disposition"] = attachment_disposition(name, fallback)
    return response


def send_document(row, name: str, *, fallback: str) -> Response:
    """A made document's PDF (dossier, batch, monthly report) under its name; 404 until the row
    is ready, and while its file is missing from the store."""
    if row.status != "ready" or not row.file_name:
        abort(404)
    path = dossier_path(row.file_name)
    if not path.exists():
        abort(404)
    return send_download(path, "application/pdf", name, fallback=fallback)


def attachment_disposition(name: str, fallback: str) -> str:
    """A Content-Disposition header for a download under a (Chinese) name."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def as_of_date() -> tuple[date, str | None]:
    """The as-of date from ``?on=YYYY-MM-DD`` (today when absent), and an error when unreadable."""
    raw = (request.args.get("on") or "").strip()
    if not raw:
        return local_today(), None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return (
            local_today(),
            f"统计日期「{raw}」格式不正确,应为 年-月-日(如 2026-06-30),已按今天统计。",
        )


def form_errors(form) -> str:
    """Every message of a refused form in one line, for a page that shows it at the top."""
    return ";".join(m for errors in form.errors.values() for m in errors)


def form_status(form) -> int:
    """422 when a submitted form was refused (the page shows why), else 200."""
    return 422 if form.errors else 200


def act_from_page(
    form,
    operation: Callable[[], object],
    *,
    refused: Callable[[str, int], ResponseReturnValue],
    done: str,
    then: str,
    invalid: str | None = None,
) -> ResponseReturnValue:
    """A button or small form on a record's page: validate, run the operation, commit once.

    Done, it flashes ``done`` and goes to ``then``. Refused, the page is drawn again by
    ``refused(message, status)`` with what was typed: an invalid form with its messages (422),
    or ``invalid`` (400) where the form has nothing a user types; an operation's refusal after
    the rollback, with its message and status.
    """
    if not form.validate_on_submit():
        return refused(invalid, 400) if invalid else refused(form_errors(form), 422)
    try:
        operation()
        db.session.commit()
    except OperationError as failure:
        db.session.rollback()
        return refused(failure.message, failure.status)
    flash(done, "success")
    return redirect(then)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Reload the signed-in user; a disabled user is signed out by Flask-Login."""
    return db.session.get(User, int(user_id))


def register_views(app: Flask) -> None:
    """Attach every blueprint and the Chinese error pages."""
    from . import (
        auth,
        batches,
        calls,
        dashboard,
        declarations,
        delegations,
        dossiers,
        experts,
        exports,
        figures,
        health,
        inbox,
        matching,
        monthly,
        programs,
        projects,
        reserve,
        tracking,
        warnings,
        workflows,
    )

    for module in (
        auth,
        inbox,
        exports,
        projects,
        declarations,
        delegations,
        programs,
        dossiers,
        experts,
        health,
        reserve,
        calls,
        matching,
        workflows,
        figures,
        tracking,
        dashboard,
        monthly,
        warnings,
        batches,
    ):
        app.register_blueprint(module.bp)

    def page(status: int, title: str, message: str):
        if is_api_request():
            # Under /api/v1 every error is JSON, whoever raised it (routing, size, a view).
            code = api_codes.get(status, ("error", message))[0]
            return error_response(status, code, api_codes.get(status, ("", message))[1])
        referrer = request.referrer or ""
        back = referrer if urlsplit(referrer).netloc == request.host else None
        return render_template(
            "errors/error.html", status=status, title=title, message=message, back=back
        ), status

    @app.errorhandler(403)
    def forbidden(error):
        return page(
            403, "无权操作", getattr(error, "description", None) or "您的角色不能执行此操作。"
        )

    @app.errorhandler(404)
    def not_found(error):
        return page(404, "页面不存在", "您要找的内容不存在,或您无权查看。")

    @app.errorhandler(400)
    def bad_request(error):
        return page(400, "请求无效", "提交的内容不完整或已失效,请返回上一页刷新后重试。")

    @app.errorhandler(405)
    def wrong_method(error):
        return page(405, "操作方式不正确", "该地址不能这样访问,请从页面上的按钮或链接进入。")

    @app.errorhandler(413)
    def too_large(error):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if is_api_request():
            size = file_size(limit) if limit else ""
            return error_response(413, "payload_too_large", f"上传内容超过 {size} 的上限")
        size = f" {file_size(limit)} " if limit else ""
        return page(
            413,
            "文件过大",
            f"上传的文件超过{size}的上限,请压缩或拆分后重新上传。已保存的内容不受影响。",
        )

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return page(400, "页面已过期", "页面停留时间过长或表单已失效,请返回上一页刷新后重新提交。")

    @app.errorhandler(OperationError)
    def operation_failed(error):
        db.session.rollback()
        if is_api_request():
            return error_response(error.status, error.code, error.message, error.fields)
        return page(error.status, "无法完成操作", error.message)

    @app.errorhandler(429)
    def rate_limited(error):
        response = page(429, "请求过于频繁", "请求过于频繁,请稍后再试。")
        if is_api_request() and getattr(error, "retry_after", None):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        log.error(
            "server error on %s %s (user %s)",
            request.method,
            request.path,
            getattr(current_user, "id", None),
        )
        return page(500, "系统错误", "系统处理时出错,已记录日志。请稍后重试或联系管理员。")
