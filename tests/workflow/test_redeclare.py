"""Re-declaration from the reserve: a new draft from the last declaration, with its diff."""

from decimal import Decimal

import pytest

from tests import factories
from tests.workflow.conftest import audit_rows
from workflow import reserve
from workflow.errors import Conflict, NotPermitted
from workflow.extensions import db


def two_field_program(**overrides):
    return factories.program(
        form_fields=[
            {"name": "necessity", "label": "项目建设必要性", "kind": "textarea", "required": True},
            {"name": "benefits", "label": "预期效益", "kind": "textarea", "required": False},
        ],
        **overrides,
    )


def not_funded(cast):
    """A project whose declaration was not recommended: back in 储备 with its old data."""
    decl = cast.declaration_in(
        "not_recommended",
        requested_amount=Decimal("320.00"),
        form_data={"necessity": "上次写的必要性"},
    )
    assert decl.project.maturity == "reserve"
    return decl


def test_redeclare_starts_from_the_last_declaration(cast):
    old = not_funded(cast)
    program = two_field_program(title="新一批")
    staff = cast.actor("district_staff")
    decl = reserve.redeclare(old.project, program, actor=staff)
    db.session.commit()
    assert decl.stage == "draft" and decl.program_id == program.id
    assert decl.previous_id == old.id
    assert decl.requested_amount == Decimal("320.00")
    assert decl.form_data == {"necessity": "上次写的必要性"}
    assert reserve.declaration_diff(decl) == [("申报批次", old.program.title, "新一批")]
    comments = [e.comment for e in audit_rows(decl.id)]
    assert any(c and f"申报 #{old.id}" in c for c in comments)


def test_only_fields_the_new_form_has_are_copied(cast):
    old = not_funded(cast)
    program = factories.program(
        form_fields=[{"name": "other", "label": "其他说明", "kind": "textarea", "required": False}]
    )
    decl = reserve.redeclare(old.project, program, actor=cast.actor("district_staff"))
    assert decl.form_data == {}
    assert ("项目建设必要性", "上次写的必要性", "—") in reserve.declaration_diff(decl)


def test_the_diff_lists_changed_amount_and_fields_by_label(cast):
    old = not_funded(cast)
    decl = reserve.redeclare(old.project, two_field_program(), actor=cast.actor("district_staff"))
    decl.requested_amount = Decimal("1250.5")
    decl.form_data = {"necessity": "上次写的必要性", "benefits": "新增效益"}
    rows = reserve.declaration_diff(decl)
    assert ("申请资金(万元)", "320.00", "1,250.50") in rows
    assert ("预期效益", "—", "新增效益") in rows
    assert "项目建设必要性" not in [r[0] for r in rows]


def test_a_declaration_without_previous_has_no_diff(cast):
    decl = cast.declaration()
    assert reserve.declaration_diff(decl) == []


def test_without_earlier_declarations_the_planned_amount_is_used(cast):
    project = cast.project(maturity="planning")
    reserve.admit_to_reserve(
        project,
        {
            "declare_year": 2026,
            "start_year": 2026,
            "planned_amount": Decimal("88.00"),
            "priority": 2,
            "is_key": False,
        },
        actor=cast.actor("city_reviewer"),
        reason_code="other",
        reason="x",
    )
    decl = reserve.redeclare(project, two_field_program(), actor=cast.actor("district_staff"))
    assert decl.previous_id is None and decl.requested_amount == Decimal("88.00")


def test_redeclare_is_refused_outside_the_reserve_and_for_others(cast):
    staff = cast.actor("district_staff")
    planning = cast.project(maturity="planning")
    with pytest.raises(Conflict, match="不在储备库中"):
        reserve.redeclare(planning, two_field_program(), actor=staff)
    old = not_funded(cast)
    with pytest.raises(NotPermitted):
        reserve.redeclare(old.project, two_field_program(), actor=cast.world.other_staff)
    closed = two_field_program(status="closed")
    with pytest.raises(Conflict, match="不能新建申报"):
        reserve.redeclare(old.project, closed, actor=staff)
    program = two_field_program()
    reserve.redeclare(old.project, program, actor=staff)
    with pytest.raises(Conflict, match="重复申报"):
        reserve.redeclare(old.project, program, actor=staff)
