"""The JSON API under /api/v1: bearer tokens, one error shape, an OpenAPI 3.1 document.

Views here parse and answer; every change goes through ``workflow.operations`` and every read
through ``workflow.permissions``, exactly as the pages do, so there is one copy of the rules.
"""

import hashlib
import logging
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from offapi import OpenAPITemplate
from spectree import Response as SpecResponse
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter
from werkzeug.exceptions import MethodNotAllowed

from ..extensions import csrf, db
from ..models import ApiToken
from ..types import utcnow
from .errors import error_response, pydantic_fields
from .schemas import ErrorResponse

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
PUBLIC_ENDPOINTS = frozenset({"api.issue_token", "api.openapi_document", "api.openapi_page"})


def _refuse_invalid_request(req, resp, req_validation_error, instance, model_adapter):
    """Spectree found the request malformed: answer 422 in the API's own shape."""
    if req_validation_error is not None:
        fields = pydantic_fields(model_adapter.validation_errors(req_validation_error))
        abort(
            error_response(422, "validation_failed", "请求数据不符合要求,请按字段说明修改", fields)
        )


def _refuse_invalid_response(req, resp, resp_validation_error, instance, model_adapter):
    """A view answered off its own schema: our bug. Log where, answer the documented 500."""
    if resp_validation_error is not None:
        errors = model_adapter.validation_errors(resp_validation_error)
        log.error("response off its schema on %s %s: %s", req.method, req.path, errors)
        code, message = HTTP_CODES[500]
        abort(error_response(500, code, message))


class _ErrorsWithoutInput(PydanticModelAdapter):
    """Spectree serializes a validation error before our hook sees it; the refused input (an
    uploaded file, say) may not be JSON, so only where and why are kept."""

    def validation_errors(self, err):
        return err.errors(include_url=False, include_context=False, include_input=False)


spec = SpecTree(
    "flask",
    title="政策资金项目申报管理 API",
    description=(
        "与网页相同的操作、守卫与权限。除 `POST /api/v1/auth/token` 外,每个请求都须带 "
        "`Authorization: Bearer <token>`。错误一律为 "
        '`{"error": {"code", "message", "fields"}}`。金额为字符串(万元,两位小数)。'
    ),
    version="1.0.0",
    # Spectree skips every route under its own path when it builds the document, so it gets
    # a path of its own; the document is served at /api/v1/openapi.json by the views below.
    path="_spectree",
    mode="strict",
    before=_refuse_invalid_request,
    after=_refuse_invalid_response,
    model_adapter=_ErrorsWithoutInput(),
    validation_error_model=ErrorResponse,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
    security_schemes=[
        SecurityScheme(
            name="bearer",
            data=SecuritySchemeData(type="http", scheme="bearer", description="访问令牌"),
        ),
    ],
    security={"bearer": []},
)


def responses(ok: str, model=None, *errors: int) -> SpecResponse:
    """The documented responses of an endpoint: its success, the given errors, and the errors
    every authenticated endpoint can answer (401 bad token, 422 bad request data, 429 too many)."""
    codes = {f"HTTP_{code}": ErrorResponse for code in (*errors, 401, 422, 429)}
    if model is None:
        return SpecResponse(ok, **codes)
    return SpecResponse(**{ok: model}, **codes)


limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
# Only the API is rate limited; the pages and /healthz are not. One budget per client address
# for the whole API (a per-route limit would multiply it by the number of endpoints); the token
# endpoint has its own, tighter limit instead.
limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api")(bp)


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256, so a database leak reveals no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


@bp.before_request
def authenticate():
    """Bearer tokens only: a session cookie never authenticates the API."""
    g.api_user = None
    g.api_token = None
    sends_json = request.method in ("POST", "PATCH", "PUT") and request.is_json
    if sends_json and request.get_json(silent=True) is None:
        return error_response(400, "malformed_json", "请求体不是有效的 JSON")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(
            401, "unauthorized", "缺少访问令牌:请在 Authorization 头中提供 Bearer 令牌"
        )
    row = db.session.scalar(
        db.select(ApiToken).where(ApiToken.token_hash == token_digest(token.strip()))
    )
    if row is None or not row.is_usable(utcnow()):
        return error_response(401, "unauthorized", "访问令牌无效、已过期、已撤销,或账号已停用")
    g.api_user, g.api_token = row.user, row
    return None


LARGEST_ID = 2**31 - 1  # ids are INTEGER columns; PostgreSQL refuses to even compare larger ones
NUL_MESSAGE = "不能包含空字符(\\u0000)"
FORM_MIMETYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _nul_fields(value: Any, path: str = "") -> dict[str, str]:
    """The fields (dotted paths) of parsed input whose text or keys hold a NUL character."""
    if isinstance(value, str):
        return {path or "body": NUL_MESSAGE} if "\x00" in value else {}
    if isinstance(value, list):
        pairs = [(path, item) for item in value]  # a repeated query or form field: one name
    elif isinstance(value, dict):
        pairs = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    else:
        return {}
    found: dict[str, str] = {}
    for child, item in pairs:
        found.update(_nul_fields(child, child) or _nul_fields(item, child))
    return found


@bp.before_request
def refuse_what_the_database_cannot_take():
    """Input that is well-formed but would make the database fail, refused up front: ids past
    the column's range are simply not there (404); PostgreSQL stores no NUL in text (422).
    Spectree lets a form-encoded body through to a JSON endpoint as ``json=None``: refuse it."""
    if any(isinstance(v, int) and v > LARGEST_ID for v in (request.view_args or {}).values()):
        code, message = HTTP_CODES[404]
        return error_response(404, code, message)
    view = current_app.view_functions.get(request.endpoint or "")
    expected = spec.get_function_metadata(view) if view is not None else None
    is_form = request.mimetype in FORM_MIMETYPES
    if getattr(expected, "json", None) and request.method in ("POST", "PATCH", "PUT") and is_form:
        message = "请求体应为 JSON,并带 Content-Type: application/json"
        return error_response(422, "validation_failed", message, {"body": message})
    fields = _nul_fields(dict(request.args.lists()))
    if request.is_json:
        fields.update(_nul_fields(request.get_json(silent=True)))
    elif is_form:
        fields.update(_nul_fields(dict(request.form.lists())))
        for name, upload in request.files.items(multi=True):
            fields.update(_nul_fields(upload.filename or "", name))
    if fields:
        return error_response(422, "validation_failed", "请求数据含有不允许的空字符", fields)
    return None


def init_app(app: Flask) -> None:
    """Register the API, its OpenAPI document and docs page, and its rate limits."""
    from . import auth, declarations, programs, projects  # noqa: F401  (routes on bp)

    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    # Counting is a safeguard, not a dependency: with Redis away the API keeps answering.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.after_request(_keep_allow_header)
    limiter.init_app(app)


def _keep_allow_header(response: Response) -> Response:
    """A 405 must name the methods the address takes (RFC 9110); the app's JSON error replaces
    Werkzeug's response, and with it the ``Allow`` header, so it is put back."""
    error = request.routing_exception
    if (
        response.status_code == 405
        and isinstance(error, MethodNotAllowed)
        and error.valid_methods
        and "Allow" not in response.headers
        and is_api_request()
    ):
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document, generated from the schemas that validate the requests."""
    return current_app.json.response(spec.spec)


def _offline_swagger_page() -> str:
    """Swagger UI with its scripts and styles inlined, and its online validator switched off.

    Left on, the validator badge loads an image from validator.swagger.io carrying the
    document's address whenever the host is not localhost: a leak, and broken offline.
    """
    anchor = "dom_id: '#swagger-ui',"
    template = OpenAPITemplate.SWAGGER.value
    if anchor not in template:  # an offapi upgrade changed its page: look before shipping it
        raise RuntimeError("offapi 的 Swagger 页面模板已变化,请检查 validatorUrl 设置")
    return template.replace(anchor, anchor + " validatorUrl: null,").replace(
        "<title>SwaggerUI</title>", "<title>政策资金项目申报管理 API</title>"
    )


SWAGGER_PAGE = _offline_swagger_page()


@bp.get("/docs")
def openapi_page():
    """A readable page for the document; its scripts ship inside a Python package (offline)."""
    page = SWAGGER_PAGE.format(spec_url=url_for("api.openapi_document"))
    return Response(page, mimetype="text/html")


def is_api_request() -> bool:
    """Whether the current request is for the API (its errors are JSON, not pages)."""
    return request.path.startswith(bp.url_prefix + "/")


HTTP_CODES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "需要有效的访问令牌"),
    403: ("forbidden", "您的角色不能执行此操作"),
    404: ("not_found", "对象不存在,或您无权查看"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    409: ("conflict", "操作冲突,请刷新后重试"),
    413: ("payload_too_large", "上传内容超过大小上限"),
    422: ("validation_failed", "请求数据不符合要求"),
    429: ("rate_limited", "请求过于频繁,请稍后再试"),
    500: ("server_error", "系统处理时出错,已记录日志"),
}
