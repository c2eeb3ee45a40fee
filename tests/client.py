"""Helpers for driving the test client like a browser."""

from flask import g


def drop_session(client) -> None:
    """Forget who is signed in, as a new browser would.

    Requests share the test's app context, and its ``g`` caches the signed-in user
    (Flask-Login) and the CSRF token (Flask-WTF): both go with the session.
    """
    with client.session_transaction() as session:
        session.clear()
    for name in list(g):
        g.pop(name)
