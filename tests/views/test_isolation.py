"""District isolation: another district's objects answer 404 on every route, never 403."""

import re

import pytest

from tests.factories import PASSWORD
from tests.views.html import page
from tests.views.objects import (
    DISTRICT_ROUTES,
    PLAIN_POST_ROUTES,
    SHARED_ROUTES,
    USER_ROUTES,
    call,
    snapshot,
    url,
    yandu_objects,
)

ALL_ROUTES = DISTRICT_ROUTES + SHARED_ROUTES + USER_ROUTES


def _methods(rule) -> set[str]:
    return set(rule.methods) - {"HEAD", "OPTIONS"}


def test_every_route_with_an_object_id_is_in_the_table(app):
    """A new route that takes an id must be added to one of the tables of tests/views/objects.py."""
    tabled = {(r.endpoint, r.method) for r in ALL_ROUTES}
    in_app = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and not rule.endpoint.startswith("api.")  # the API's table is in tests/api
        and any(arg.endswith("_id") for arg in rule.arguments)
        for method in _methods(rule)
    }
    assert in_app - tabled == set(), "routes with an object id but no isolation test"
    assert tabled - in_app == set(), "the table lists routes the app no longer has"


def test_object_routes_all_take_integer_ids(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for placeholder in re.findall(r"<([^>]+)>", rule.rule):
            assert re.fullmatch(r"int:\w+_id", placeholder), f"{rule.rule}: {placeholder}"


@pytest.mark.parametrize("route", DISTRICT_ROUTES, ids=lambda r: r.id)
def test_another_district_and_experts_get_404(world, login, route):
    objects = yandu_objects(world)
    before = snapshot()
    for intruder in (world.other_staff, world.other_reviewer, world.expert):
        client = login(intruder)
        response = call(client, route, objects)
        assert response.status_code == 404, (intruder.role, response.status_code)
        shown = page(response)
        assert shown.h1 == "页面不存在"
        assert objects.project.name not in shown.text
        assert "Content-Disposition" not in response.headers
    assert snapshot() == before, "a refused request changed something"


@pytest.mark.parametrize("route", DISTRICT_ROUTES, ids=lambda r: r.id)
def test_the_owner_reaches_every_route(world, login, route):
    """The same requests succeed for the owner, so the 404s above are isolation, not bad URLs."""
    objects = yandu_objects(world)
    client = login(getattr(world, route.who))
    response = call(client, route, objects)
    assert response.status_code == route.owner_status, page(response).text[:500]


READS = [r for r in DISTRICT_ROUTES if r.method == "GET" and not r.endpoint.endswith(".edit")]
EDITS = [r for r in DISTRICT_ROUTES if r.endpoint.endswith(".edit")]


@pytest.mark.parametrize("role", ["reviewer", "city", "manager", "admin"])
def test_reviewers_of_the_district_and_the_city_can_read_but_not_fill_in(world, login, role):
    objects = yandu_objects(world)
    client = login(getattr(world, role))
    for route in READS:
        assert call(client, route, objects).status_code == 200, route.id
    before = snapshot()
    for route in EDITS:
        response = call(client, route, objects)
        assert response.status_code == 403, route.id
        assert "区县填报员" in page(response).text
    assert snapshot() == before


def test_a_missing_object_is_404_too(world, login):
    client = login(world.staff)
    for path in ("/projects/9999", "/declarations/9999", "/attachments/9999", "/dossiers/9999"):
        response = client.get(path)
        assert response.status_code == 404
        assert page(response).h1 == "页面不存在"


def test_a_prerequisite_of_another_project_is_404(world, login, make_project):
    objects = yandu_objects(world)
    mine = make_project(world.yandu)
    client = login(world.staff)
    response = client.post(
        f"/projects/{mine.id}/prerequisites/{objects.prerequisite.id}/delete", data={}
    )
    assert response.status_code == 404
    assert snapshot()["Prerequisite"] == 2


@pytest.mark.parametrize("role", ["staff", "other_staff", "reviewer", "expert", "manager"])
def test_programs_are_shared_but_only_the_city_edits_them(world, login, role):
    objects = yandu_objects(world)
    client = login(getattr(world, role))
    detail, edit_get, edit_post = (
        call(client, r, objects) for r in SHARED_ROUTES if r.endpoint.startswith("programs.")
    )
    assert detail.status_code == 200
    assert objects.program.title in page(detail).h1
    for response in (edit_get, edit_post):
        assert response.status_code == 403
        assert page(response).h1 == "无权操作"


def _every_rule(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.login", "health.healthz"):
            continue
        if rule.endpoint.startswith("api."):
            continue  # bearer tokens, not the login page: see tests/api
        for method in _methods(rule):
            yield rule, method


def test_signed_out_users_are_sent_to_the_login_page(world, client, app):
    objects = yandu_objects(world)
    ids = {
        "project_id": objects.project.id,
        "prereq_id": objects.prerequisite.id,
        "declaration_id": objects.declaration.id,
        "attachment_id": objects.attachment.id,
        "dossier_id": objects.dossier.id,
        "program_id": objects.program.id,
        "notification_id": objects.notification.id,
        "call_id": objects.call.id,
        "proposal_id": objects.proposal.id,
        "adjustment_id": objects.adjustment.id,
        "old_id": objects.snapshot.id,
        "new_id": objects.other_snapshot.id,
        "assignment_id": objects.assignment.id,
        "delegation_id": objects.delegation.id,
        "report_id": objects.report.id,
        "photo_id": objects.photo.id,
        "warning_id": objects.warning.id,
        "evidence_id": objects.evidence.id,
        "rule_id": objects.warning.rule_id,
        "monthly_report_id": objects.monthly_report.id,
        "batch_id": objects.batch.id,
    }
    before = snapshot()
    seen = 0
    for rule, method in _every_rule(app):
        path = rule.build({arg: ids[arg] for arg in rule.arguments})[1]
        response = client.open(path, method=method)
        assert response.status_code == 302, (method, path)
        assert response.headers["Location"].startswith("/login"), (method, path)
        seen += 1
    assert seen >= len(ALL_ROUTES) + len(PLAIN_POST_ROUTES) - 1
    assert snapshot() == before
    login_page = page(client.get("/inbox", follow_redirects=True))
    assert login_page.h1 == "登录"
    assert "请先登录" in login_page.alerts()


def test_after_signing_in_the_user_returns_to_the_page_they_asked_for(world, client):
    objects = yandu_objects(world)
    path = f"/declarations/{objects.declaration.id}"
    response = client.get(path)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    response = client.post(login_url, data={"username": world.staff.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == path


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_login_never_redirects_to_another_site(world, client, target):
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": world.staff.username, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox"


def test_urls_in_the_table_are_built_for_the_right_objects(world, client):
    objects = yandu_objects(world)
    built = {r.id: url(client, r, objects) for r in DISTRICT_ROUTES}
    assert built["GET projects.detail"] == f"/projects/{objects.project.id}"
    assert built["GET dossiers.download"] == f"/dossiers/{objects.dossier.id}/download"
