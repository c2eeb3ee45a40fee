"""Fixtures for the JSON API: a client that carries a bearer token."""

import pytest

from workflow import operations
from workflow.extensions import db


class ApiClient:
    """The test client, speaking JSON with ``Authorization: Bearer <token>`` on every call."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, headers: dict | None) -> dict:
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**base, **(headers or {})}

    def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs):
        """Any call; ``json=`` sends a JSON body, ``data=`` a form or raw body."""
        return self.client.open(path, method=method, headers=self._headers(headers), **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def issue_token(app):
    """``issue_token(user)`` → a fresh plain bearer token for the user."""

    def issue(user, hours: int = 1) -> str:
        plain, _ = operations.issue_api_token(user, hours=hours)
        db.session.commit()
        return plain

    return issue


@pytest.fixture
def api(client, issue_token):
    """``api(user)`` → an ApiClient signed in as the user; ``api(None)`` has no token."""

    def as_user(user) -> ApiClient:
        return ApiClient(client, issue_token(user) if user is not None else None)

    return as_user


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the API's JSON error with this status; returns its ``error`` object."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    if code is not None:
        assert error["code"] == code, error
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error["message"]
    return error
