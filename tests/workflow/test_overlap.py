"""The duplicate and overlap guard: which projects and declarations it warns about, and how the
operations refuse to go on without a reason, and keep the reason when one is given."""

import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.workflow.conftest import PATHS, audit_rows
from workflow import operations, overlap
from workflow.errors import OverlapWarning
from workflow.extensions import db
from workflow.models import Declaration, Project

NAME = "盐都区城市生命线安全运行监测平台"
REASON = "与库中项目为同一单位的二期工程,建设内容不重复。"


def values(world, **overrides) -> dict:
    """A new project's values in 盐都区 that resemble nothing in the library."""
    base = {
        "name": "亭湖港口集装箱数字孪生调度系统",
        "code": None,
        "applicant_uscc": None,
        "district_id": world.yandu.id,
        "category": "digital_economy",
    }
    return base | overrides


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "similar"),
    [
        ("智慧交通平台建设项目", "智慧交通平台", True),  # generic words do not count
        ("智慧交通平台", "盐都区智慧交通平台", True),
        ("智慧交通平台建设项目", "智慧医疗平台建设项目", False),  # a shared suffix is not enough
        ("数据资源中心", "算力调度中心", False),
    ],
)
def test_names_are_compared_without_generic_words(a, b, similar):
    assert (overlap.name_similarity(a, b) >= overlap.SIMILAR_NAME) is similar


@pytest.mark.parametrize(
    "name",
    ["城市生命线监测平台", "盐都区城市数据大脑一期工程", "盐城市政务服务一网通办数据共享交换平台"],
)
def test_name_pieces_find_every_very_similar_name(name):
    """Every variant with one or two edits, and random ones with more, that still scores ≥ 90
    contains as many pieces as the SQL filter asks for (it would otherwise miss the name)."""
    normalized = overlap.normalize_name(name)
    pieces, need = overlap.name_pieces(normalized)
    assert need >= 2

    def edits(text):
        yield from (text[:i] + text[i + 1 :] for i in range(len(text)))
        yield from (text[:i] + "新" + text[i:] for i in range(len(text) + 1))

    variants = {two for one in edits(normalized) for two in edits(one)} | set(edits(normalized))
    rng = random.Random(name)
    for _ in range(2000):
        variant = normalized
        for _ in range(rng.randint(3, 5)):
            variant = rng.choice(list(edits(variant)))
        variants.add(variant)
    scored = [v for v in variants if overlap.fuzz.ratio(normalized, v) >= 90]
    assert scored
    assert all(sum(piece in v for piece in pieces) >= need for v in scored)


# --- projects -------------------------------------------------------------------------------


def test_the_same_project_code_warns_whatever_the_name(world):
    other = factories.project(world.tinghu, code="2025-320902-65-01-000001")
    warnings = overlap.project_warnings(values(world, code="2025-320902-65-01-000001"))
    assert [w.project_id for w in warnings] == [other.id]
    (warning,) = warnings
    assert (warning.district, warning.maturity) == ("亭湖区", "储备")
    assert warning.reasons == ("项目代码 2025-320902-65-01-000001 相同",)
    assert f"#{other.id}「{other.name}」(亭湖区,储备)" in warning.message


def test_the_same_credit_code_and_a_similar_name_warn(world):
    uscc = factories.credit_code(77)
    other = factories.project(world.tinghu, name=NAME + "建设项目", applicant_uscc=uscc)
    warnings = overlap.project_warnings(values(world, name=NAME, applicant_uscc=uscc))
    assert [w.project_id for w in warnings] == [other.id]
    assert warnings[0].reasons[0].startswith("统一社会信用代码相同且名称相似(相似度 100%)")


def test_the_same_credit_code_with_a_different_name_does_not_warn(world):
    """One company runs several projects: the credit code alone is no duplicate."""
    uscc = factories.credit_code(77)
    factories.project(world.yandu, name="盐都区工业互联网标识解析二级节点", applicant_uscc=uscc)
    assert overlap.project_warnings(values(world, name=NAME, applicant_uscc=uscc)) == []


def test_a_very_similar_name_in_the_same_district_warns_without_any_code(world):
    other = factories.project(world.yandu, name=NAME, code=None, applicant_uscc=None)
    warnings = overlap.project_warnings(
        values(world, name="盐都区城市生命线安全运行监测平台(一期)")
    )
    assert [w.project_id for w in warnings] == [other.id]
    assert warnings[0].reasons[0].startswith("同一区县内项目名称高度相似")


def test_a_very_similar_name_in_another_district_alone_does_not_warn(world):
    factories.project(world.tinghu, name=NAME, code=None, applicant_uscc=None)
    assert overlap.project_warnings(values(world, name=NAME)) == []


def test_a_merely_similar_name_in_the_district_does_not_warn(world):
    factories.project(world.yandu, name="盐都区城市生命线安全运行监测平台", applicant_uscc=None)
    assert overlap.project_warnings(values(world, name="盐都区城市排水管网运行监测平台")) == []


def test_a_removed_project_warns_only_by_its_code(world):
    code = "2025-320903-65-01-000009"
    removed = factories.project(world.yandu, name=NAME, code=code, maturity="removed")
    assert overlap.project_warnings(values(world, name=NAME)) == []
    warnings = overlap.project_warnings(values(world, name="另一个名称", code=code))
    assert [(w.project_id, w.maturity) for w in warnings] == [(removed.id, "出库")]


def test_a_project_is_not_its_own_duplicate(world):
    project = factories.project(world.yandu, name=NAME)
    own = values(world, name=NAME, code=project.code, applicant_uscc=project.applicant_uscc)
    assert [w.project_id for w in overlap.project_warnings(own)] == [project.id]
    assert overlap.project_warnings(own, exclude_id=project.id) == []


def test_several_reasons_about_one_project_make_one_warning(world):
    project = factories.project(world.yandu, name=NAME)
    warnings = overlap.project_warnings(
        values(world, name=NAME, code=project.code, applicant_uscc=project.applicant_uscc)
    )
    assert len(warnings) == 1
    assert len(warnings[0].reasons) == 3


# --- declarations ---------------------------------------------------------------------------


def _other_channel(world, **overrides):
    return factories.program(channel="special_treasury_bond", **overrides)


def test_the_same_project_active_in_another_channel_this_year_warns(world):
    project = factories.project(world.yandu)
    bond = _other_channel(world, title="2026年超长期特别国债")
    first = factories.declaration(project, world.program, by=world.staff)
    warnings = overlap.declaration_warnings(project, bond)
    assert [(w.kind, w.declaration_id) for w in warnings] == [("other_channel", first.id)]
    assert warnings[0].channel == "中央预算内投资"
    assert "本次申报渠道为「超长期特别国债」" in warnings[0].message


def test_a_withdrawn_declaration_in_another_channel_does_not_warn(world):
    project = factories.project(world.yandu)
    first = factories.declaration(project, world.program, by=world.staff)
    factories.act(first, "withdraw", world.staff)
    assert overlap.declaration_warnings(project, _other_channel(world)) == []


@pytest.mark.parametrize("stage", list(PATHS))
def test_only_a_live_declaration_in_another_channel_warns(cast, stage):
    """Withdrawn, not recommended and not approved declarations no longer compete for money."""
    first = cast.declaration_in(stage)
    warnings = overlap.declaration_warnings(first.project, _other_channel(cast.world))
    live = stage not in ("withdrawn", "not_recommended", "not_approved")
    assert [w.declaration_id for w in warnings] == ([first.id] if live else [])


def test_another_year_or_the_same_channel_does_not_warn(world):
    project = factories.project(world.yandu)
    factories.declaration(project, world.program, by=world.staff)
    next_year = _other_channel(world, year=world.program.year + 1)
    same_channel = factories.program()
    assert overlap.declaration_warnings(project, next_year) == []
    assert overlap.declaration_warnings(project, same_channel) == []


def test_a_declaration_also_warns_about_the_projects_duplicates(world):
    project = factories.project(world.yandu, name=NAME)
    twin = factories.project(world.tinghu, code=project.code)
    warnings = overlap.declaration_warnings(project, world.program)
    assert [(w.kind, w.project_id) for w in warnings] == [("duplicate", twin.id)]


def test_a_twin_by_code_active_in_another_channel_warns_too(world):
    project = factories.project(world.yandu)
    twin = factories.project(world.yandu, code=project.code)
    declared = factories.declaration(twin, world.program, by=world.staff, overlap_reason=REASON)
    kinds = {
        (w.kind, w.declaration_id)
        for w in overlap.declaration_warnings(project, _other_channel(world))
    }
    assert ("other_channel", declared.id) in kinds


# --- the operations -------------------------------------------------------------------------


def test_creating_a_duplicate_project_needs_a_reason(world):
    other = factories.project(world.yandu, name=NAME)
    new = {"name": NAME, "category": "digital_economy", "code": other.code}
    for blank in (None, "", "   "):
        with pytest.raises(OverlapWarning) as refused:
            operations.create_project(new, actor=world.staff, overlap_reason=blank)
        assert refused.value.status == 409
        assert refused.value.code == "overlap"
        assert [w.project_id for w in refused.value.warnings] == [other.id]
        assert "overlap_reason" in refused.value.fields
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Project)) == 1


def test_a_reason_is_kept_on_the_project_and_in_the_audit_log(world):
    other = factories.project(world.yandu, name=NAME)
    project = operations.create_project(
        {"name": NAME, "category": "digital_economy"},
        actor=world.staff,
        overlap_reason=f"  {REASON}  ",
    )
    db.session.commit()
    assert project.overlap_reason == REASON
    (row,) = audit_rows(project.id, "project")
    assert row.action == "create"
    assert f"#{other.id}「{NAME}」" in row.comment
    assert row.comment.endswith(f"继续的理由:{REASON}")


def test_without_warnings_no_reason_is_kept(world):
    project = operations.create_project(
        {"name": NAME, "category": "digital_economy"}, actor=world.staff, overlap_reason=REASON
    )
    db.session.commit()
    assert project.overlap_reason is None
    assert audit_rows(project.id, "project")[0].comment is None


def test_declaring_in_a_second_channel_needs_a_reason(world):
    project = factories.project(world.yandu)
    factories.declaration(project, world.program, by=world.staff)
    bond = _other_channel(world)
    with pytest.raises(OverlapWarning):
        operations.create_declaration(project, bond, {}, actor=world.staff)
    db.session.rollback()
    decl = operations.create_declaration(
        project,
        bond,
        {"requested_amount": Decimal("100")},
        actor=world.staff,
        overlap_reason=REASON,
    )
    db.session.commit()
    assert db.session.get(Declaration, decl.id).overlap_reason == REASON
    (row,) = audit_rows(decl.id)
    assert "已在「中央预算内投资」渠道申报" in row.comment
    assert REASON in row.comment
