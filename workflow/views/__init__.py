"""Web pages. Views read the request, call a form and an operation, and commit once."""

import logging

from flask import Flask, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..errors import OperationError
from ..extensions import db, login_manager
from ..models import User

log = logging.getLogger(__name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Reload the signed-in user; a disabled user is signed out by Flask-Login."""
    return db.session.get(User, int(user_id))


def register_views(app: Flask) -> None:
    """Attach every blueprint and the Chinese error pages."""
    from . import auth, declarations, dossiers, health, inbox, programs, projects

    for module in (auth, inbox, projects, declarations, programs, dossiers, health):
        app.register_blueprint(module.bp)

    def page(status: int, title: str, message: str):
        return render_template(
            "errors/error.html", status=status, title=title, message=message
        ), status

    @app.errorhandler(403)
    def forbidden(error):
        return page(
            403, "无权操作", getattr(error, "description", None) or "您的角色不能执行此操作。"
        )

    @app.errorhandler(404)
    def not_found(error):
        return page(404, "页面不存在", "您要找的内容不存在,或您无权查看。")

    @app.errorhandler(413)
    def too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return page(
            413,
            "文件过大",
            f"上传的文件超过 {limit} MB 的上限,请压缩或拆分后重新上传。已保存的内容不受影响。",
        )

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return page(400, "页面已过期", "页面停留时间过长或表单已失效,请返回上一页刷新后重新提交。")

    @app.errorhandler(OperationError)
    def operation_failed(error):
        db.session.rollback()
        return page(error.status, "无法完成操作", error.message)

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
