"""Bearer tokens: issue, expiry, revocation, disabled users, no cookies, no CSRF, rate limits."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.api.conftest import assert_error
from workflow import operations
from workflow.extensions import db
from workflow.models import ApiToken
from workflow.types import utcnow

TOKEN_URL = "/api/v1/auth/token"
SOME_CALL = "/api/v1/programs"


@pytest.fixture
def app_config(app_config, request):
    """The suite's settings, with what a test asks for through ``indirect`` parametrization."""
    return {**app_config, **getattr(request, "param", {})}


def only(**settings):
    """Run the test on an app built with these settings."""
    return pytest.mark.parametrize("app_config", [settings], indirect=True, ids=[""])


def ask_for_token(client, username: str, password: str = factories.PASSWORD):
    return client.post(TOKEN_URL, json={"username": username, "password": password})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def stored_row(token: str) -> ApiToken:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))


# --- issuing --------------------------------------------------------------------------------


def test_good_credentials_get_a_token_that_expires_and_works(app, client, world):
    before = utcnow()
    response = ask_for_token(client, world.staff.username)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert set(body) == {"token", "expires_at"}
    hours = app.config["API_TOKEN_HOURS"]
    row = stored_row(body["token"])
    assert row.user_id == world.staff.id
    assert before + timedelta(hours=hours) <= row.expires_at <= utcnow() + timedelta(hours=hours)
    assert body["expires_at"].startswith(row.expires_at.isoformat()[:19])
    assert client.get(SOME_CALL, headers=bearer(body["token"])).status_code == 200


def test_surrounding_spaces_in_the_username_are_forgiven(client, world):
    assert ask_for_token(client, f"  {world.staff.username} ").status_code == 200


@pytest.mark.parametrize(
    ("who", "password"),
    [
        ("staff", "wrong-password"),
        ("nobody", factories.PASSWORD),
        ("disabled", factories.PASSWORD),
    ],
    ids=["wrong password", "unknown user", "disabled user"],
)
def test_bad_credentials_are_refused_with_the_same_answer(client, world, who, password):
    usernames = {
        "staff": world.staff.username,
        "nobody": "no-such-user",
        "disabled": factories.user("district_staff", world.yandu, active=False).username,
    }
    error = assert_error(ask_for_token(client, usernames[who], password), 401, "unauthorized")
    # One message for all three, so the answer does not tell which usernames exist.
    assert error["message"] == "用户名或密码错误,或账号已停用"
    assert db.session.scalar(select(ApiToken)) is None


def test_the_token_endpoint_needs_no_token(client, world):
    response = client.post(
        TOKEN_URL,
        json={"username": world.staff.username, "password": factories.PASSWORD},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 200


# --- what makes a token stop working --------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Token abc", "Basic dXNlcjpwYXNz", "Bearer not-a-real-token"],
)
def test_calls_without_a_valid_bearer_token_are_refused(client, world, header):
    headers = {"Authorization": header} if header is not None else {}
    assert_error(client.get(SOME_CALL, headers=headers), 401, "unauthorized")


def test_the_bearer_scheme_name_is_case_insensitive(client, world, issue_token):
    token = issue_token(world.staff)
    assert client.get(SOME_CALL, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_a_token_issued_for_zero_hours_is_already_expired(client, world, issue_token):
    token = issue_token(world.staff, hours=0)
    assert_error(client.get(SOME_CALL, headers=bearer(token)), 401, "unauthorized")


def test_a_token_stops_working_when_it_expires(client, world, issue_token):
    token = issue_token(world.staff)
    assert client.get(SOME_CALL, headers=bearer(token)).status_code == 200
    stored_row(token).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_error(client.get(SOME_CALL, headers=bearer(token)), 401, "unauthorized")


def test_revoking_stops_only_the_token_in_use(client, world, issue_token):
    token, other = issue_token(world.staff), issue_token(world.staff)
    response = client.delete(TOKEN_URL, headers=bearer(token))
    assert response.status_code == 204 and response.data == b""
    assert stored_row(token).revoked_at is not None
    assert_error(client.get(SOME_CALL, headers=bearer(token)), 401, "unauthorized")
    assert_error(client.delete(TOKEN_URL, headers=bearer(token)), 401, "unauthorized")
    assert client.get(SOME_CALL, headers=bearer(other)).status_code == 200


def test_revoking_needs_a_token(client, world):
    assert_error(client.delete(TOKEN_URL), 401, "unauthorized")


def test_disabling_the_user_from_the_cli_stops_the_tokens(app, client, world, issue_token):
    token = issue_token(world.staff)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "disable", world.staff.username])
    assert result.exit_code == 0, result.output
    assert "已停用" in result.output
    assert_error(client.get(SOME_CALL, headers=bearer(token)), 401, "unauthorized")
    assert_error(ask_for_token(client, world.staff.username), 401, "unauthorized")

    result = runner.invoke(args=["users", "enable", world.staff.username])
    assert result.exit_code == 0, result.output
    assert ask_for_token(client, world.staff.username).status_code == 200


def test_the_cli_names_an_unknown_user(app, world):
    for command in ("disable", "enable"):
        result = app.test_cli_runner().invoke(args=["users", command, "no-such-user"])
        assert result.exit_code != 0 and "不存在" in result.output


def test_disabling_the_user_through_the_operation_stops_the_tokens(client, world, issue_token):
    token = issue_token(world.reviewer)
    operations.set_user_active(world.reviewer, False, actor=world.admin)
    db.session.commit()
    assert_error(client.get(SOME_CALL, headers=bearer(token)), 401, "unauthorized")


def test_re_enabling_a_user_does_not_revive_their_old_tokens(client, world, issue_token):
    """An account disabled because a token leaked comes back without that token."""
    old = issue_token(world.reviewer)
    operations.set_user_active(world.reviewer, False, actor=world.admin)
    operations.set_user_active(world.reviewer, True, actor=world.admin)
    db.session.commit()
    assert_error(client.get(SOME_CALL, headers=bearer(old)), 401, "unauthorized")
    assert client.get(SOME_CALL, headers=bearer(issue_token(world.reviewer))).status_code == 200


# --- cookies, CSRF, storage -----------------------------------------------------------------


def documented_calls(client) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document, path parameters filled with 1."""
    document = client.get("/api/v1/openapi.json").get_json()
    calls = []
    for path, item in document["paths"].items():
        concrete = "/".join("1" if p.startswith("{") else p for p in path.split("/"))
        calls += [(method.upper(), concrete) for method in item if method != "parameters"]
    return calls


def test_a_signed_in_browser_session_never_authenticates_the_api(client, world, login):
    login(world.staff)
    assert client.get("/inbox").status_code == 200  # the cookie does sign in the pages
    calls = [c for c in documented_calls(client) if c != ("POST", TOKEN_URL)]
    assert ("GET", SOME_CALL) in calls and ("DELETE", TOKEN_URL) in calls
    for method, path in calls:
        response = client.open(path, method=method, json={} if method != "GET" else None)
        assert_error(response, 401, "unauthorized")


@only(WTF_CSRF_ENABLED=True)
def test_bearer_calls_need_no_csrf_token(client, world):
    # The pages do check CSRF in this app: a form post without the token is refused.
    refused = client.post(
        "/login", data={"username": world.staff.username, "password": factories.PASSWORD}
    )
    assert refused.status_code == 400
    response = ask_for_token(client, world.staff.username)
    assert response.status_code == 200, response.text
    token = response.get_json()["token"]
    assert client.get(SOME_CALL, headers=bearer(token)).status_code == 200
    assert client.delete(TOKEN_URL, headers=bearer(token)).status_code == 204


def test_only_the_sha256_of_a_token_is_stored(client, world):
    token = ask_for_token(client, world.staff.username).get_json()["token"]
    row = stored_row(token)
    assert row is not None and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # The plain token is nowhere in the database, in any table or column (audit log included).
    for table in db.metadata.sorted_tables:
        for values in db.session.execute(table.select()):
            assert not any(token in str(value) for value in values), table.name


# --- rate limits ----------------------------------------------------------------------------


def assert_rate_limited(response) -> None:
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


@only(API_TOKEN_RATE_LIMIT="3/minute")
def test_the_fourth_token_request_in_a_minute_is_refused(client, world, issue_token):
    # Wrong passwords count too: that is what slows down guessing.
    assert ask_for_token(client, world.staff.username, "wrong").status_code == 401
    for _ in range(2):
        assert ask_for_token(client, world.staff.username).status_code == 200
    assert_rate_limited(ask_for_token(client, world.staff.username))
    # The tighter limit is the token endpoint's own: other calls go on.
    assert client.get(SOME_CALL, headers=bearer(issue_token(world.staff))).status_code == 200


@only(API_RATE_LIMIT="3/minute")
def test_other_api_calls_are_limited_per_client(client, world, issue_token):
    headers = bearer(issue_token(world.staff))
    for _ in range(3):
        assert client.get(SOME_CALL, headers=headers).status_code == 200
    assert_rate_limited(client.get(SOME_CALL, headers=headers))
    assert_rate_limited(client.get(f"{SOME_CALL}/{world.program.id}", headers=headers))


@only(API_RATE_LIMIT="2/minute", API_TOKEN_RATE_LIMIT="2/minute")
def test_the_pages_and_the_health_check_are_not_limited(client, world, login):
    for _ in range(2):
        client.get(SOME_CALL)
    assert_rate_limited(client.get(SOME_CALL))
    login(world.staff)
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/inbox").status_code == 200
        assert client.get("/login").status_code in (200, 302)
