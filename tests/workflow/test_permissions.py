"""Who sees what: another district's objects do not exist for a district user (404, not 403)."""

import pytest
from werkzeug.exceptions import NotFound

from workflow import operations, permissions
from workflow.extensions import db

# role -> whether they see a 盐都区 declaration; "outsider" is 亭湖区 staff.
SEES = {
    "district_staff": True,
    "district_reviewer": True,
    "city_reviewer": True,
    "manager": True,
    "admin": True,
    "expert": False,  # only declarations assigned to them, which arrive with expert review
    "outsider": False,
}


def _user(cast, who):
    return cast.world.other_staff if who == "outsider" else cast.actor(who)


@pytest.fixture
def material(cast):
    """A 盐都区 declaration with an attachment and a dossier."""
    decl = cast.declaration_in("city_review")
    dossier, _ = operations.request_dossier(decl, actor=cast.actor("manager"))
    db.session.commit()
    return decl, dossier


@pytest.mark.parametrize(("who", "sees"), SEES.items())
def test_objects_of_a_declaration_are_found_or_not(cast, material, who, sees):
    decl, dossier = material
    user = _user(cast, who)
    lookups = [
        (permissions.project_or_404, decl.project),
        (permissions.declaration_or_404, decl),
        (permissions.attachment_or_404, decl.attachments[0]),
        (permissions.dossier_or_404, dossier),
    ]
    for lookup, obj in lookups:
        if sees:
            assert lookup(obj.id, user) is obj
        else:
            with pytest.raises(NotFound):
                lookup(obj.id, user)


@pytest.mark.parametrize(("who", "sees"), SEES.items())
def test_lists_show_only_what_the_user_may_open(cast, material, who, sees):
    decl, _ = material
    theirs = cast.declaration()  # another 盐都区 declaration
    user = _user(cast, who)
    found = db.session.scalars(permissions.visible_declarations(user)).all()
    assert sorted(d.id for d in found) == (sorted([decl.id, theirs.id]) if sees else [])


@pytest.mark.parametrize(
    "lookup",
    [
        permissions.project_or_404,
        permissions.declaration_or_404,
        permissions.attachment_or_404,
        permissions.dossier_or_404,
    ],
)
def test_missing_objects_are_404(cast, lookup):
    with pytest.raises(NotFound):
        lookup(999_999, cast.actor("admin"))
