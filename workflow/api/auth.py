"""Bearer tokens: issue one for a username and password, revoke the one in use."""

from flask import current_app, g
from sqlalchemy import select

from .. import operations
from ..extensions import db
from ..models import User
from . import bp, limiter, responses, spec
from .errors import error_response
from .schemas import TokenRequest, TokenResponse


def _token_limit() -> str:
    return current_app.config["API_TOKEN_RATE_LIMIT"]


@bp.post("/auth/token")
@limiter.limit(_token_limit)
@spec.validate(
    json=TokenRequest, resp=responses("HTTP_200", TokenResponse, 400), tags=["auth"], security={}
)
def issue_token(json: TokenRequest):
    """Exchange a username and password for a bearer token that expires."""
    user = db.session.scalar(select(User).where(User.username == json.username.strip()))
    if user is None or not user.check_password(json.password) or not user.active:
        return error_response(401, "unauthorized", "用户名或密码错误,或账号已停用")
    plain, row = operations.issue_api_token(user, hours=current_app.config["API_TOKEN_HOURS"])
    db.session.commit()
    return TokenResponse(token=plain, expires_at=row.expires_at)


@bp.delete("/auth/token")
@spec.validate(resp=responses("HTTP_204"), tags=["auth"])
def revoke_token():
    """Revoke the token this request carries; it stops working at once."""
    operations.revoke_api_token(g.api_token, actor=g.api_user)
    db.session.commit()
    return "", 204
