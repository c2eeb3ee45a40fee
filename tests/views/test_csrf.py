"""With CSRF protection on (as in production), every POST needs the page's token."""

import pytest

from tests import factories
from tests.client import drop_session
from tests.views.html import Page, page
from tests.views.objects import (
    DISTRICT_ROUTES,
    PLAIN_POST_ROUTES,
    SHARED_ROUTES,
    USER_ROUTES,
    call,
    snapshot,
    yandu_objects,
)
from workflow.extensions import csrf

POST_ROUTES = [
    r
    for r in DISTRICT_ROUTES + SHARED_ROUTES + USER_ROUTES + PLAIN_POST_ROUTES
    if r.method == "POST"
]
# Views that take a POST without a token; none should.
EXEMPT: set[str] = set()


@pytest.fixture
def app_config(app_config):
    app_config["WTF_CSRF_ENABLED"] = True
    return app_config


def token_of(client, path: str) -> str:
    token = Page(client.get(path).get_data(as_text=True)).value("csrf_token")
    assert token, f"no csrf_token on {path}"
    return token


def sign_in(client, user):
    drop_session(client)
    token = token_of(client, "/login")
    response = client.post(
        "/login",
        data={"username": user.username, "password": factories.PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    return client


def test_every_post_route_is_in_the_table(app):
    in_app = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods
        and rule.endpoint != "static"
        and not rule.endpoint.startswith("api.")
    }
    assert in_app == {r.endpoint for r in POST_ROUTES}


def test_only_the_bearer_token_api_is_exempt_as_a_whole(app):
    """The API authenticates by bearer token alone (never the cookie), so CSRF cannot apply."""
    assert {bp.name for bp in csrf._exempt_blueprints} == {"api"}


def test_no_view_is_exempt_except_the_get_only_health_check(app):
    exempt = set(csrf._exempt_views)
    assert exempt <= {"workflow.views.health.healthz"} | EXEMPT
    health = next(r for r in app.url_map.iter_rules() if r.endpoint == "health.healthz")
    assert health.methods - {"HEAD", "OPTIONS"} == {"GET"}


def test_login_works_with_the_token_from_the_page(world, client):
    sign_in(client, world.staff)
    assert client.get("/inbox").status_code == 200


def test_login_without_a_token_is_refused(world, client):
    response = client.post(
        "/login", data={"username": world.staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 400
    shown = page(response)
    assert shown.h1 == "页面已过期"
    assert client.get("/inbox").status_code == 302  # still signed out


@pytest.mark.parametrize("route", POST_ROUTES, ids=lambda r: r.id)
@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
def test_a_post_without_the_token_is_refused(world, client, route, token):
    objects = yandu_objects(world)
    sign_in(client, getattr(world, route.who))
    before = snapshot()
    extra = {"csrf_token": token} if token else {}
    response = call(client, route, objects, **extra)
    assert response.status_code == 400, route.id
    shown = page(response)
    assert shown.h1 == "页面已过期"
    assert "请返回上一页刷新后重新提交" in shown.text
    assert snapshot() == before


def test_every_post_form_on_the_pages_carries_a_token(world, client):
    objects = yandu_objects(world)
    for user, paths in (
        (world.staff, ["/inbox", f"/projects/{objects.project.id}", "/projects/new",
                       f"/declarations/{objects.declaration.id}",
                       f"/declarations/{objects.declaration.id}/edit",
                       f"/dossiers/{objects.dossier.id}", "/projects/import"]),
        (world.city, ["/programs/new", f"/programs/{objects.program.id}/edit"]),
    ):  # fmt: skip
        sign_in(client, user)
        for path in paths:
            shown = page(client.get(path))
            forms = [f for f in shown.root.find_all("form") if f.attrs.get("method") == "post"]
            assert forms, path
            for form in forms:
                tokens = [i for i in form.find_all("input") if i.attrs.get("name") == "csrf_token"]
                assert tokens and tokens[0].attrs.get("value"), (path, form.attrs)


def test_a_whole_submission_works_with_the_tokens_from_the_pages(world, client):
    objects = yandu_objects(world)
    decl = objects.declaration
    sign_in(client, world.staff)
    token = token_of(client, f"/declarations/{decl.id}")
    response = client.post(
        f"/declarations/{decl.id}/actions",
        data={"action": "submit", "version": str(decl.version), "csrf_token": token},
    )
    assert response.status_code == 302
    assert "已提交" in " ".join(page(client.get(response.headers["Location"])).alerts())
    response = client.post("/logout", data={"csrf_token": token_of(client, "/inbox")})
    assert response.headers["Location"] == "/login"
