"""Fixtures for exercising the real form classes inside a POST request context."""

import pytest


@pytest.fixture
def submit(app):
    """``submit(make_form, data)`` → (form, ok): build the form from POSTed data and validate it."""

    def run(make_form, data: dict):
        with app.test_request_context(method="POST", data=data):
            form = make_form()
            ok = form.validate()
            return form, ok

    return run
