"""Helpers of the declaration, attachment and dossier API tests."""

import io

from tests.factories import act
from tests.workflow.conftest import PATHS, approval
from workflow.extensions import db
from workflow.models import Declaration

COMMENT = "材料齐全,同意。"


def drive(decl: Declaration, stage: str, world) -> Declaration:
    """Move a declaration to a stage through the real workflow (never by writing ``stage``)."""
    actors = {
        "district_staff": world.staff,
        "district_reviewer": world.reviewer,
        "city_reviewer": world.city,
        "manager": world.manager,
    }
    for trigger, role in PATHS[stage]:
        extra = {"approval": approval()} if trigger == "record_approval" else {}
        act(decl, trigger, actors[role], COMMENT, **extra)
    return decl


def fresh(decl: Declaration) -> Declaration:
    """The declaration as the database has it now."""
    db.session.expire_all()
    return db.session.get(Declaration, decl.id)


def multipart(content: bytes, filename: str, kind: str = "other") -> dict:
    """The keyword arguments of a multipart upload through the test client."""
    return {
        "data": {"kind": kind, "file": (io.BytesIO(content), filename)},
        "content_type": "multipart/form-data",
    }
