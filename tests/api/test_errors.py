"""One error shape for every failure under /api/v1, the offline docs page, the OpenAPI document."""

import io
import logging
import re
from html.parser import HTMLParser

import pytest

from tests import factories
from tests.api.conftest import assert_error
from workflow.api import responses, spec
from workflow.api.schemas import TokenResponse

TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def app_config(app_config, request):
    """The suite's settings, with what a test asks for through ``indirect`` parametrization."""
    return {**app_config, **getattr(request, "param", {})}


def only(**settings):
    """Run the test on an app built with these settings."""
    return pytest.mark.parametrize("app_config", [settings], indirect=True, ids=[""])


# --- each status, provoked the way a client would ----------------------------------------


@pytest.mark.parametrize(
    "body",
    ["{bad", "", '{"username": "a",}', "\xff\xfe"],
    ids=["broken", "empty", "comma", "bytes"],
)
def test_malformed_json_is_400(client, world, body):
    response = client.post(TOKEN_URL, data=body, content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_every_json_body_operation_answers_malformed_json_with_400(client, world):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        concrete = "/".join("1" if p.startswith("{") else p for p in path.split("/"))
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            response = client.open(
                concrete, method=method.upper(), data="{bad", content_type="application/json"
            )
            assert_error(response, 400, "malformed_json")
            assert "400" in operation["responses"], f"{method.upper()} {path} answers 400"


def test_a_missing_or_bad_token_is_401(api, world):
    assert_error(api(None).get("/api/v1/programs"), 401, "unauthorized")
    bad = api(None).get("/api/v1/programs", headers={"Authorization": "Bearer nope"})
    assert_error(bad, 401, "unauthorized")


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/programs/abc", "/api/v1/"])
def test_an_unknown_api_path_is_404_json(api, world, path):
    assert_error(api(world.staff).get(path), 404, "not_found")


def test_an_unknown_page_is_still_an_html_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_an_id_past_the_database_range_is_404_not_500(api, world):
    # PostgreSQL refuses to compare an INTEGER column with 2**31; SQLite with 2**63.
    for value in (2**31, 2**63, 10**30):
        assert_error(api(world.staff).get(f"/api/v1/programs/{value}"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/api/v1/programs"), ("GET", TOKEN_URL), ("PATCH", TOKEN_URL)]
)
def test_a_wrong_method_is_405_and_names_the_allowed_ones(api, world, method, path):
    response = api(world.staff).request(method, path)
    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in allowed and allowed & {"GET", "POST", "DELETE"}


@only(MAX_CONTENT_LENGTH=2048)
def test_a_body_over_the_size_limit_is_413(client, world):
    body = {"username": world.staff.username, "password": "x" * 4096}
    error = assert_error(client.post(TOKEN_URL, json=body), 413, "payload_too_large")
    assert "2.0 KB" in error["message"] or "2 KB" in error["message"], error["message"]


def test_invalid_fields_are_422_with_a_chinese_message_per_field(client, world):
    response = client.post(TOKEN_URL, json={"username": "", "extra": 1})
    error = assert_error(response, 422, "validation_failed")
    assert error["fields"] == {"username": "不能为空", "password": "必填", "extra": "不认识的字段"}


def test_a_form_encoded_body_to_a_json_endpoint_is_422_not_500(client, world):
    response = client.post(TOKEN_URL, data={"username": world.staff.username, "password": "x"})
    error = assert_error(response, 422, "validation_failed")
    assert "JSON" in error["fields"]["body"]


def test_a_refused_multipart_body_is_422_not_500(api, world, client):
    # Spectree serializes its validation errors before the API's hook sees them; with the
    # refused input kept in them, an uploaded file could not be turned into JSON.
    document = client.get("/api/v1/openapi.json").get_json()
    uploads = [
        path
        for path, item in document["paths"].items()
        for operation in item.values()
        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
    ]
    assert uploads, "no multipart operation documented"
    for path in uploads:
        concrete = "/".join("1" if p.startswith("{") else p for p in path.split("/"))
        response = api(world.staff).post(
            concrete, data={"file": (io.BytesIO(factories.pdf_bytes()), "申报书.pdf")}
        )
        error = assert_error(response, 422, "validation_failed")
        assert error["fields"], error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "a\x00b", "password": "x"}, "username"),
        ({"username": "a", "password": "\x00"}, "password"),
        ({"username": "a", "password": "x", "\x00": "x"}, "\x00"),
    ],
)
def test_text_with_a_nul_character_is_422_not_500(client, world, body, field):
    # PostgreSQL cannot store or even compare text holding NUL.
    error = assert_error(client.post(TOKEN_URL, json=body), 422, "validation_failed")
    assert field in error["fields"]


def test_a_nul_character_in_the_query_string_is_422(api, world):
    response = api(world.staff).get("/api/v1/programs?q=%00")
    assert assert_error(response, 422, "validation_failed")["fields"] == {
        "q": "不能包含空字符(\\u0000)"
    }


@only(API_RATE_LIMIT="1/minute")
def test_too_many_requests_is_429_with_retry_after(api, world):
    client = api(world.staff)
    assert client.get("/api/v1/programs").status_code == 200
    response = client.get("/api/v1/programs")
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


@only(PROPAGATE_EXCEPTIONS=False)
def test_a_view_that_raises_answers_json_500_and_logs_it(app, api, world, monkeypatch, caplog):
    def broken_view(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "api.list_programs", broken_view)
    with caplog.at_level(logging.ERROR):
        response = api(world.staff).get("/api/v1/programs")
    assert_error(response, 500, "server_error")
    assert response.mimetype == "application/json"
    assert "/api/v1/programs" in caplog.text
    # The page that failed did not leave the session broken for the next request.
    assert api(world.staff).get(f"/api/v1/programs/{world.program.id}").status_code == 200


def test_a_response_off_its_own_schema_is_logged_and_answers_json_500(app, client, caplog):
    def off_schema():
        return {"token": ["not", "a", "string"]}

    view = spec.validate(resp=responses("HTTP_200", TokenResponse), security={})(off_schema)
    app.add_url_rule("/api/v1/test-only-off-schema", "test_only_off_schema", view)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/test-only-off-schema")
    assert_error(response, 500, "server_error")
    assert "/api/v1/test-only-off-schema" in caplog.text and "token" in caplog.text


@only(PROPAGATE_EXCEPTIONS=False)
def test_a_route_added_under_the_prefix_also_answers_json_500(app, client):
    def raising():
        raise ZeroDivisionError

    app.add_url_rule("/api/v1/test-only-raises", "test_only_raises", raising)
    assert_error(client.get("/api/v1/test-only-raises"), 500, "server_error")


# --- the documentation --------------------------------------------------------------------


class ResourceLinks(HTMLParser):
    """Every address an HTML page makes the browser fetch: scripts, styles, images, frames."""

    def __init__(self):
        super().__init__()
        self.addresses: list[str] = []
        self.inline_scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "data", "srcset"):
            if attrs.get(name) and tag in ("script", "link", "img", "iframe", "object", "source"):
                self.addresses.append(attrs[name])
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._in == "script" and data.strip():
            self.inline_scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)

    def handle_endtag(self, tag):
        self._in = None


REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def test_the_docs_page_works_offline(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = ResourceLinks()
    page.feed(response.get_data(as_text=True))
    assert [a for a in page.addresses if REMOTE.match(a)] == []
    for css in page.styles:
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", css, re.IGNORECASE)
    scripts = "".join(page.inline_scripts)
    assert "SwaggerUIBundle" in scripts and len(scripts) > 500_000  # inlined, not linked
    assert "url: '/api/v1/openapi.json'" in scripts
    # The online validator badge would send the document's address to validator.swagger.io.
    assert "validatorUrl: null" in scripts


def test_the_docs_need_no_token(client):
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def operations_of(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield f"{method.upper()} {path}", operation


def test_the_document_is_openapi_3_1_with_a_bearer_scheme(document):
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["bearer"].items()
    assert document["security"] == [{"bearer": []}]
    assert document["paths"], "no operation documented"


def test_every_operation_documents_401_and_422_with_the_error_shape(document):
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for name, operation in operations_of(document):
        for status in ("401", "422"):
            response = operation["responses"].get(status)
            assert response is not None, f"{name} does not document {status}"
            assert response["content"]["application/json"]["schema"] == error_ref, name
        assert operation.get("summary"), f"{name} has no summary (the view's docstring)"


def test_only_the_token_endpoint_is_public(document):
    public = [name for name, op in operations_of(document) if op.get("security") == []]
    assert public == [f"POST {TOKEN_URL}"]


def test_the_error_schema_is_the_shape_the_api_answers(document, client, world):
    schemas = document["components"]["schemas"]
    assert schemas["ErrorResponse"]["required"] == ["error"]
    detail = schemas["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields"}
    assert {"code", "message"} <= set(detail["required"])
    body = client.post(TOKEN_URL, json={"username": "x", "password": factories.PASSWORD})
    assert set(body.get_json()["error"]) == set(detail["properties"])
