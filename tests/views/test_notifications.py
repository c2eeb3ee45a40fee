"""Messages in the 待办 inbox: shown to their receiver only, once per key, marked read."""

import pytest

from tests.views.html import page
from workflow import notifications
from workflow.extensions import db
from workflow.models import Notification


def _send(users, key="k1", link="/projects"):
    added = notifications.notify(
        users, "call_reminder", "征集即将截止", body="请尽快报送", link=link, dedupe_key=key
    )
    db.session.commit()
    return added


def test_a_message_with_a_key_arrives_once(world):
    assert _send([world.staff]) == 1
    assert _send([world.staff]) == 0
    assert _send([world.staff, world.other_staff]) == 1
    assert notifications.unread_count(world.staff) == 1


def test_disabled_users_get_no_message(world):
    world.staff.active = False
    db.session.commit()
    assert _send([world.staff]) == 0


def test_the_inbox_shows_unread_messages_and_marks_them_read(world, login):
    _send([world.staff])
    client = login(world.staff)
    shown = page(client.get("/inbox"))
    assert "征集即将截止" in shown.text and "征集截止提醒" in shown.text
    message = db.session.query(Notification).one()
    response = client.post(f"/notifications/{message.id}/read", data={"follow": "1"})
    assert response.status_code == 302 and response.location == "/projects"
    assert "征集即将截止" not in page(client.get("/inbox")).text


def test_read_all_clears_the_list(world, login):
    _send([world.staff], key="a")
    _send([world.staff], key="b")
    client = login(world.staff)
    assert client.post("/notifications/read-all").status_code == 302
    assert notifications.unread_count(world.staff) == 0


def test_someone_elses_message_is_404(world, login):
    _send([world.other_staff])
    message = db.session.query(Notification).one()
    client = login(world.staff)
    assert client.post(f"/notifications/{message.id}/read").status_code == 404
    assert notifications.unread_count(world.other_staff) == 1


@pytest.mark.parametrize("link", ["https://example.com/", "//example.com/inbox"])
def test_an_outside_link_is_not_followed(world, login, link):
    _send([world.staff], link=link)
    message = db.session.query(Notification).one()
    client = login(world.staff)
    response = client.post(f"/notifications/{message.id}/read", data={"follow": "1"})
    assert response.location == "/inbox"
