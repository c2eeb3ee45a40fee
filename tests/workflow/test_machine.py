"""The declaration workflow: every stage × action × role, the guards, the branches, the effects.

``EXPECTED`` is typed out from DOMAIN.md's default workflow (and the README's recorded choices
where DOMAIN.md is silent), independently of ``machine.TRANSITIONS``: the test compares what the
code does with what the product says, not the table with itself.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.workflow.conftest import (
    COMMENT,
    PATHS,
    approval,
    audit_count,
    audit_rows,
    days,
    has_chinese,
    score_by_experts,
    stored_stage_and_version,
)
from workflow import machine, operations, vocab
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import ReviewOpinion

STAFF = frozenset({"district_staff"})
DISTRICT_REVIEWER = frozenset({"district_reviewer"})
CITY_REVIEWER = frozenset({"city_reviewer"})
# DOMAIN.md: 管理人员 "records upstream results (批复/下达)"; the README records the choice that
# 市级审核员, who runs the program and recommends upward, may record them too.
RESULT_RECORDERS = frozenset({"manager", "city_reviewer"})

# (stage, trigger) -> (destination, roles that may fire it). Every other pair is refused.
EXPECTED: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("draft", "submit"): ("district_review", STAFF),
    ("draft", "withdraw"): ("withdrawn", STAFF),
    ("returned", "resubmit"): ("district_review", STAFF),
    ("returned", "withdraw"): ("withdrawn", STAFF),
    ("district_review", "approve"): ("city_review", DISTRICT_REVIEWER),
    ("district_review", "return_for_revision"): ("returned", DISTRICT_REVIEWER),
    # Without expert review; the expert branch has its own test below.
    ("city_review", "approve"): ("recommended", CITY_REVIEWER),
    ("city_review", "return_for_revision"): ("returned", CITY_REVIEWER),
    ("city_review", "reject"): ("not_recommended", CITY_REVIEWER),
    # DOMAIN.md is silent on leaving expert review; the README: the city reviewer concludes it.
    ("expert_review", "approve"): ("recommended", CITY_REVIEWER),
    ("expert_review", "return_for_revision"): ("returned", CITY_REVIEWER),
    ("expert_review", "reject"): ("not_recommended", CITY_REVIEWER),
    ("recommended", "record_approval"): ("approved", RESULT_RECORDERS),
    ("recommended", "record_rejection"): ("not_approved", RESULT_RECORDERS),
}
EXPERT_BRANCH = ("city_review", "approve", "expert_review")

# The stages of the default workflow and of expert review; 联合会签 and the system's 逾期未提交
# belong to other definitions and have their own tests (test_workflows.py).
STAGES = [s for s in vocab.STAGES if s not in ("joint_signoff", "expired")]
TRIGGERS = list(vocab.ACTIONS)
ROLES = list(vocab.ROLES)
COMMENT_REQUIRED = [
    ("district_review", "return_for_revision", "district_reviewer"),
    ("city_review", "return_for_revision", "city_reviewer"),
    ("expert_review", "return_for_revision", "city_reviewer"),
    ("city_review", "reject", "city_reviewer"),
    ("expert_review", "reject", "city_reviewer"),
    ("recommended", "record_rejection", "manager"),
]


def expected_outcome(stage: str, trigger: str, role: str) -> str | type[Exception]:
    """The destination stage, or the error class the product answers with."""
    if trigger == "expire":  # the system closes drafts after the window; no person may
        return NotPermitted if stage == "draft" else Conflict
    if (stage, trigger) not in EXPECTED:
        return Conflict
    dest, roles = EXPECTED[stage, trigger]
    return dest if role in roles else NotPermitted


def act(decl, trigger, actor, *, comment=COMMENT, approval_record=None):
    """Act as the workflow's callers do: with the version the user saw."""
    if approval_record is None and trigger == "record_approval":
        approval_record = approval()
    return operations.act_on_declaration(
        decl,
        trigger,
        actor=actor,
        comment=comment,
        expected_version=decl.version,
        approval=approval_record,
    )


def opinion_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ReviewOpinion))


def assert_refused(decl, trigger, actor, error_class, *, comment=COMMENT, approval_record=None):
    """The action is refused with the error class and a Chinese reason, and changes nothing."""
    stage, version = decl.stage, decl.version
    audits, opinions = audit_count(), opinion_count()
    maturity = decl.project.maturity
    with pytest.raises(error_class) as refused:
        act(decl, trigger, actor, comment=comment, approval_record=approval_record)
    error = refused.value
    assert type(error) is error_class
    assert error.status == {Conflict: 409, NotPermitted: 403, Invalid: 422}[error_class]
    assert has_chinese(error.message)
    assert error.reasons and all(has_chinese(r) for r in error.reasons)
    # Queries autoflush: anything the refused action had changed would show up here.
    assert stored_stage_and_version(decl.id) == (stage, version)
    assert (decl.stage, decl.version) == (stage, version)
    assert audit_count() == audits
    assert opinion_count() == opinions
    assert decl.project.maturity == maturity
    return error


# --- the whole table ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("stage", STAGES)
def test_transition_table(bank, stage, trigger, role):
    """Every stage × action × role does exactly what the default workflow says."""
    with bank.declaration_in(stage) as decl:
        actor = bank.actor(role)
        assert decl.stage == stage
        outcome = expected_outcome(stage, trigger, role)
        if isinstance(outcome, str):
            version, before = decl.version, audit_count(object_id=decl.id)
            act(decl, trigger, actor)
            assert decl.stage == outcome
            assert stored_stage_and_version(decl.id) == (outcome, version + 1)
            events = audit_rows(decl.id)[before:]
            assert [(e.action, e.before["stage"], e.after["stage"]) for e in events] == [
                (trigger, stage, outcome)
            ]
            assert events[0].actor_id == actor.id
        else:
            error = assert_refused(decl, trigger, actor, outcome)
            if outcome is Conflict:
                assert f"当前阶段「{vocab.STAGES[stage]}」" in error.message
            elif trigger == "expire":
                assert "由系统自动执行" in error.message
            else:
                assert "只能由" in error.message


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("stage", STAGES)
def test_allowed_triggers_are_what_act_accepts(bank, stage, role):
    """The buttons a user is shown are exactly the actions the operation then accepts."""
    with bank.declaration_in(stage) as decl:
        actor = bank.actor(role)
        shown = machine.allowed_triggers(decl, actor, operations.workflow_context())
        accepted = []
        for trigger in TRIGGERS:
            try:
                act(decl, trigger, actor)
                accepted.append(trigger)
            except (Conflict, NotPermitted, Invalid):
                pass
            finally:
                db.session.rollback()
        assert sorted(shown) == sorted(accepted)
        assert sorted(shown) == sorted(
            t for t in TRIGGERS if isinstance(expected_outcome(stage, t, role), str)
        )


def test_allowed_triggers_leave_out_what_a_guard_refuses(cast):
    """An incomplete draft offers no 提交, only 撤回."""
    decl = cast.declaration(requested_amount=None)
    shown = machine.allowed_triggers(
        decl, cast.actor("district_staff"), operations.workflow_context()
    )
    assert shown == ["withdraw"]


def test_unknown_action_is_refused(cast):
    decl = cast.declaration()
    error = assert_refused(decl, "approve_everything", cast.actor("admin"), Conflict)
    assert "未知的操作" in error.message


# --- guards ---------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", "\u3000\u3000", "\n\t"])
@pytest.mark.parametrize(("stage", "trigger", "role"), COMMENT_REQUIRED)
def test_comment_is_required(bank, stage, trigger, role, blank):
    """退回、不予推荐、登记未获批 need a written reason; blanks do not count."""
    with bank.declaration_in(stage) as decl:
        error = assert_refused(decl, trigger, bank.actor(role), Invalid, comment=blank)
        assert error.reasons == ["请填写意见(退回、不予推荐、未获批时必填)"]


@pytest.mark.parametrize(("stage", "trigger", "role"), COMMENT_REQUIRED)
def test_comment_is_kept_with_the_action(bank, stage, trigger, role):
    """The reason typed is stored, trimmed, as the review opinion and on the audit row."""
    with bank.declaration_in(stage) as decl:
        actor = bank.actor(role)
        act(decl, trigger, actor, comment="  请补充可研报告。\n")
        opinion = decl.opinions[-1]
        assert (opinion.stage, opinion.action, opinion.comment, opinion.reviewer_id) == (
            stage,
            trigger,
            "请补充可研报告。",
            actor.id,
        )
        assert audit_rows(decl.id)[-1].comment == "请补充可研报告。"


OTHER_DISTRICT_ACTIONS = [
    ("draft", "submit", "district_staff"),
    ("draft", "withdraw", "district_staff"),
    ("returned", "resubmit", "district_staff"),
    ("returned", "withdraw", "district_staff"),
    ("district_review", "approve", "district_reviewer"),
    ("district_review", "return_for_revision", "district_reviewer"),
]


@pytest.mark.parametrize(("stage", "trigger", "role"), OTHER_DISTRICT_ACTIONS)
def test_other_district_is_refused(bank, stage, trigger, role):
    """A 亭湖区 user cannot act on a 盐都区 declaration (the pages answer 404 before this)."""
    with bank.declaration_in(stage) as decl:
        outsider = bank.outsider(role)
        assert outsider.district_id != decl.project.district_id
        error = assert_refused(decl, trigger, outsider, Invalid)
        assert "只能处理本区县的申报" in error.reasons


def _shift_program(program, **values):
    """Change the program's window or status (uncommitted: the bank rolls it back)."""
    for key, value in values.items():
        setattr(program, key, days(value) if isinstance(value, int) else value)


@pytest.mark.parametrize(
    ("dates", "reason"),
    [
        ({"district_deadline": -1}, "已超过区县申报截止日期"),
        ({"opens_on": 1, "district_deadline": 10}, "申报批次尚未开放,开放日期为"),
    ],
    ids=["after-district-deadline", "before-opening"],
)
def test_submission_outside_the_district_window_is_refused(bank, dates, reason):
    """No 提交 outside [opens_on, district_deadline]."""
    with bank.declaration_in("draft") as decl:
        _shift_program(decl.program, **dates)
        error = assert_refused(decl, "submit", bank.actor("district_staff"), Invalid)
        assert any(r.startswith(reason) for r in error.reasons), error.reasons


@pytest.mark.parametrize("status", ["open", "closed"])
def test_a_returned_declaration_may_come_back_until_the_city_deadline(bank, status):
    """Sent back after the district deadline, it is still in the pipeline (see the README)."""
    with bank.declaration_in("returned") as decl:
        _shift_program(decl.program, district_deadline=-3, city_deadline=0, status=status)
        act(decl, "resubmit", bank.actor("district_staff"))
        assert decl.stage == "district_review"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"district_deadline": -3, "city_deadline": -1}, "已超过市级审核截止日期"),
        ({"status": "archived"}, "申报批次「"),
    ],
    ids=["after-city-deadline", "archived-program"],
)
def test_resubmission_outside_the_revision_window_is_refused(bank, values, reason):
    with bank.declaration_in("returned") as decl:
        _shift_program(decl.program, **values)
        error = assert_refused(decl, "resubmit", bank.actor("district_staff"), Invalid)
        assert any(r.startswith(reason) for r in error.reasons), error.reasons


@pytest.mark.parametrize(
    ("status", "label"), [("closed", "已截止"), ("archived", "已归档"), ("draft", "草稿")]
)
def test_submission_to_a_program_not_open_is_refused(bank, status, label):
    with bank.declaration_in("draft") as decl:
        _shift_program(decl.program, status=status)
        error = assert_refused(decl, "submit", bank.actor("district_staff"), Invalid)
        assert error.reasons == [f"申报批次「{decl.program.title}」当前{label},不接受提交"]


@pytest.mark.parametrize(
    "dates",
    [{"district_deadline": 0}, {"opens_on": 0}, {"opens_on": 0, "district_deadline": 0}],
    ids=["on-deadline-day", "on-opening-day", "one-day-window"],
)
def test_submission_on_the_window_edges_is_allowed(bank, dates):
    """Deadlines are whole local days: the deadline day and the opening day both count."""
    with bank.declaration_in("draft") as decl:
        _shift_program(decl.program, **dates)
        act(decl, "submit", bank.actor("district_staff"))
        assert decl.stage == "district_review"


@pytest.mark.parametrize("stage", ["city_review", "expert_review"])
def test_city_approval_after_the_city_deadline_is_refused(bank, stage):
    with bank.declaration_in(stage) as decl:
        _shift_program(decl.program, district_deadline=-2, city_deadline=-1)
        error = assert_refused(decl, "approve", bank.actor("city_reviewer"), Invalid)
        assert error.reasons == [f"已超过市级审核截止日期 {days(-1).isoformat()}"]


@pytest.mark.parametrize("stage", ["city_review", "expert_review"])
def test_city_approval_on_the_city_deadline_is_allowed(bank, stage):
    with bank.declaration_in(stage) as decl:
        _shift_program(decl.program, district_deadline=-2, city_deadline=0)
        act(decl, "approve", bank.actor("city_reviewer"))
        assert decl.stage == "recommended"


@pytest.mark.parametrize("trigger", ["return_for_revision", "reject"])
def test_city_may_still_return_or_reject_after_its_deadline(bank, trigger):
    """Only 通过 is bound to the city window; a late declaration can still be sent back."""
    with bank.declaration_in("city_review") as decl:
        _shift_program(decl.program, district_deadline=-2, city_deadline=-1)
        act(decl, trigger, bank.actor("city_reviewer"))
        assert decl.stage == EXPECTED["city_review", trigger][0]


def _set_prerequisite(valid_until):
    def change(decl):
        decl.project.prerequisites[0].valid_until = valid_until(decl)

    return change


COMPLETENESS = [
    ("no-project-code", lambda d: setattr(d.project, "code", None), "项目缺少「项目代码」"),
    (
        "code-outside-city",
        lambda d: setattr(d.project, "code", "2025-310101-65-01-123456"),
        "项目代码中的区划代码 310101 不属于本市(320900)",
    ),
    (
        "code-bad-shape",
        lambda d: setattr(d.project, "code", "2025-320903-65-01-12345"),
        "项目代码格式应为 YYYY-RRRRRR-DD-TT-NNNNNN,例如 2025-320903-65-01-123456",
    ),
    (
        "bad-credit-code",
        lambda d: setattr(d.project, "applicant_uscc", "91320903MA00000011"),
        "统一社会信用代码无效(应为 18 位,且校验位正确)",
    ),
    (
        "no-credit-code",
        lambda d: setattr(d.project, "applicant_uscc", None),
        "项目缺少「统一社会信用代码」",
    ),
    (
        "sources-short",
        lambda d: setattr(d.project, "fund_self", Decimal("400.00")),
        "各项资金来源合计 900.00 万元,与总投资 1000.00 万元不一致",
    ),
    (
        "no-sources",
        lambda d: [setattr(d.project, f, None) for f in vocab.FUND_SOURCES],
        "请填写资金来源",
    ),
    (
        "bad-mobile",
        lambda d: setattr(d.project, "contact_mobile", "12912345678"),
        "手机号码应为 11 位大陆手机号",
    ),
    (
        "end-before-start",
        lambda d: setattr(d.project, "planned_end", date(2025, 1, 1)),
        "拟建成年月不能早于拟开工年月",
    ),
    (
        "missing-attachment",
        lambda d: setattr(d.program, "required_attachments", ["application", "commitment_letter"]),
        "缺少附件「承诺函」",
    ),
    (
        "missing-prerequisite",
        lambda d: setattr(
            d.program, "required_prerequisites", ["feasibility_approval", "environmental"]
        ),
        "缺少前期要件「环评」",
    ),
    (
        "expired-prerequisite",
        _set_prerequisite(lambda d: d.program.district_deadline - timedelta(days=1)),
        "前期要件「可研批复」在申报截止日前已过期",
    ),
    (
        "project-removed",
        lambda d: setattr(d.project, "maturity", "removed"),
        "该项目已出库,不能申报",
    ),
    ("no-amount", lambda d: setattr(d, "requested_amount", None), "请填写申请资金"),
    (
        "below-minimum",
        lambda d: setattr(d, "requested_amount", Decimal("5.00")),
        "申请资金不得低于本批次下限 10.00 万元",
    ),
    (
        "above-maximum",
        lambda d: setattr(d.program, "max_request", Decimal("200.00")),
        "申请资金不得超过本批次上限 200.00 万元",
    ),
    (
        "above-ratio",
        lambda d: setattr(d.program, "max_ratio", Decimal("0.2")),
        "申请资金占总投资比例 30.00% 超过本批次上限 20%,本项目最多可申请 200.00 万元",
    ),
    (
        "above-total",
        lambda d: (
            setattr(d.program, "max_request", None)
            or setattr(d, "requested_amount", Decimal("1200.00"))
        ),
        "申请资金不能超过项目总投资",
    ),
    ("form-field-missing", lambda d: setattr(d, "form_data", {}), "请填写「项目建设必要性」"),
]


@pytest.mark.parametrize(
    ("change", "reason"), [c[1:] for c in COMPLETENESS], ids=[c[0] for c in COMPLETENESS]
)
@pytest.mark.parametrize("trigger", ["submit", "resubmit"])
def test_incomplete_declaration_cannot_be_submitted(bank, trigger, change, reason):
    """Each gap is named in words the applicant can act on."""
    with bank.declaration_in("draft" if trigger == "submit" else "returned") as decl:
        change(decl)
        error = assert_refused(decl, trigger, bank.actor("district_staff"), Invalid)
        assert reason in error.reasons, error.reasons


def test_every_gap_is_listed_at_once(bank):
    """The applicant sees the whole list, not one problem per attempt."""
    with bank.declaration_in("draft") as decl:
        decl.project.code = None
        decl.project.contact_mobile = "123"
        decl.requested_amount = None
        error = assert_refused(decl, "submit", bank.actor("district_staff"), Invalid)
        assert {"项目缺少「项目代码」", "手机号码应为 11 位大陆手机号", "请填写申请资金"} <= set(
            error.reasons
        )


def test_prerequisite_valid_on_the_district_deadline_is_accepted(bank):
    with bank.declaration_in("draft") as decl:
        decl.project.prerequisites[0].valid_until = decl.program.district_deadline
        act(decl, "submit", bank.actor("district_staff"))
        assert decl.stage == "district_review"


# --- branches and results -------------------------------------------------------------------


def test_expert_review_comes_between_city_review_and_recommendation(cast):
    """A program on the expert review workflow routes the city's 通过 through 专家评审."""
    decl = cast.declaration(program=cast.expert_program)
    assert decl.workflow_name == "expert_review"
    for trigger, role in PATHS["city_review"]:
        cast.act(decl, trigger, role)
    cast.act(decl, "approve", "city_reviewer")
    assert decl.stage == EXPERT_BRANCH[2]
    assert audit_rows(decl.id)[-1].after["stage"] == "expert_review"
    # Experts score; they do not move the declaration. The city concludes once they have.
    assert_refused(decl, "approve", cast.actor("expert"), NotPermitted)
    error = assert_refused(decl, "approve", cast.actor("city_reviewer"), Invalid)
    assert error.reasons == ["至少需要 2 位专家评审,目前已分配 0 位"]
    score_by_experts(decl)
    cast.act(decl, "approve", "city_reviewer")
    assert decl.stage == "recommended"


def test_without_expert_review_city_approval_recommends_directly(cast):
    decl = cast.declaration_in("city_review")
    assert decl.workflow_name == "default"
    cast.act(decl, "approve", "city_reviewer")
    assert decl.stage == "recommended"


MISSING = "请填写批复文号、下达金额和批复日期"
INCOMPLETE_APPROVALS = [
    ("no-doc-number", {"doc_number": None}, MISSING),
    ("empty-doc-number", {"doc_number": ""}, MISSING),
    ("blank-doc-number", {"doc_number": "   "}, MISSING),
    ("no-amount", {"amount": None}, MISSING),
    ("no-date", {"approved_on": None}, MISSING),
    ("zero-amount", {"amount": Decimal("0")}, "下达金额必须大于 0"),
    ("negative-amount", {"amount": Decimal("-5")}, "下达金额必须大于 0"),
    ("amount-not-a-number", {"amount": "三百"}, "下达金额必须大于 0"),
]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [a[1:] for a in INCOMPLETE_APPROVALS],
    ids=[a[0] for a in INCOMPLETE_APPROVALS],
)
def test_record_approval_needs_number_amount_and_date(bank, overrides, reason):
    with bank.declaration_in("recommended") as decl:
        error = assert_refused(
            decl,
            "record_approval",
            bank.actor("manager"),
            Invalid,
            approval_record=approval(**overrides),
        )
        assert error.reasons == [reason]
        assert decl.approval_doc_number is None


def test_record_approval_stores_the_result(cast):
    decl = cast.declaration_in("recommended")
    record = approval(doc_number=" 苏发改投资〔2026〕7号 ", amount=Decimal("250.50"))
    cast.act(decl, "record_approval", "manager", approval=record)
    db.session.expire_all()
    assert decl.stage == "approved"
    assert (decl.approval_doc_number, decl.approved_amount, decl.approved_on) == (
        "苏发改投资〔2026〕7号",
        Decimal("250.50"),
        record["approved_on"],
    )
    assert audit_rows(decl.id)[-1].after == {
        "stage": "approved",
        "approval_doc_number": "苏发改投资〔2026〕7号",
        "approved_amount": "250.50",
        "approved_on": record["approved_on"].isoformat(),
    }


# --- the project's maturity -----------------------------------------------------------------

MATURITY_AFTER = [
    ("district_review", "declaring"),
    ("city_review", "declaring"),
    ("returned", "declaring"),
    ("recommended", "declaring"),
    ("approved", "funded"),
    ("not_approved", "reserve"),
    ("not_recommended", "reserve"),
    ("withdrawn", "reserve"),
]


@pytest.mark.parametrize(("stage", "maturity"), MATURITY_AFTER)
def test_project_maturity_follows_the_declaration(cast, stage, maturity):
    """申报中 while under review, 已获批 when funded, back to 储备 when it fails or is withdrawn."""
    decl = cast.declaration()
    assert decl.project.maturity == "reserve"
    cast.drive_to(decl, stage)
    assert decl.project.maturity == maturity


def test_withdrawing_a_returned_declaration_puts_the_project_back_in_reserve(cast):
    decl = cast.declaration_in("returned")
    assert decl.project.maturity == "declaring"
    cast.act(decl, "withdraw", "district_staff")
    assert decl.project.maturity == "reserve"
    change = audit_rows(decl.project.id, "project")[-1]
    assert (change.action, change.before, change.after) == (
        "return_to_reserve",
        {"maturity": "declaring"},
        {"maturity": "reserve"},
    )


@pytest.mark.parametrize("outcome", ["not_recommended", "not_approved", "withdrawn"])
def test_project_stays_declaring_while_another_declaration_is_under_review(cast, outcome):
    """One failed declaration does not send a project to the reserve while another one runs."""
    project = cast.project()
    running = cast.declaration(project=project)
    cast.drive_to(running, "city_review")
    other_program = factories.program()
    failing = cast.declaration(project=project, program=other_program)
    stage_before = "returned" if outcome == "withdrawn" else None
    cast.drive_to(failing, stage_before or outcome)
    if stage_before:
        cast.act(failing, "withdraw", "district_staff")
    assert failing.stage == outcome
    assert project.maturity == "declaring"


@pytest.mark.parametrize("outcome", ["not_recommended", "not_approved"])
def test_funded_project_stays_funded(cast, outcome):
    project = cast.project()
    cast.drive_to(cast.declaration(project=project), "approved")
    assert project.maturity == "funded"
    cast.drive_to(cast.declaration(project=project, program=factories.program()), outcome)
    assert project.maturity == "funded"


# --- the shared machine ---------------------------------------------------------------------


def test_one_shared_machine_registers_no_declaration(cast):
    """Driving many declarations leaves nothing behind on the machine or on the rows."""
    declarations = [cast.declaration_in(stage) for stage in PATHS for _ in range(2)]
    assert all(w.machine.models == [] for w in machine.all_workflows())
    for decl in declarations:
        assert not hasattr(decl, "trigger")
        assert not any(hasattr(decl, name) for name in ("submit", "may_submit", "approve"))


def test_mermaid_diagram_shows_every_transition():
    """The default definition's diagram: DOMAIN.md's table, and the system's 逾期自动关闭."""
    text = machine.mermaid_diagram()
    pairs = {(s, dest, t) for (s, t), (dest, _) in EXPECTED.items() if s != "expert_review"}
    for source, dest, trigger in pairs:
        assert f"    {source} --> {dest} : {vocab.ACTIONS[trigger]}" in text
    assert "    draft --> expired : 逾期自动关闭(系统)" in text
    for code, name in vocab.STAGES.items():
        if code not in ("expert_review", "joint_signoff"):
            assert f"    {code} : {name}" in text
    arrows = [line for line in text.splitlines() if "-->" in line and "[*]" not in line]
    assert len(arrows) == len(pairs) + 1
    expert = machine.mermaid_diagram(name="expert_review")
    assert f"    {EXPERT_BRANCH[0]} --> {EXPERT_BRANCH[2]} : 通过" in expert
    assert "    expert_review --> recommended : 通过" in expert


def test_mermaid_diagram_marks_the_current_stage():
    assert "    class city_review current" in machine.mermaid_diagram("city_review")
    assert "current" not in machine.mermaid_diagram()


@pytest.mark.parametrize(
    ("utc_now", "allowed"),
    [
        (datetime(2026, 3, 31, 15, 59, tzinfo=UTC), True),  # 23:59 in Yancheng
        (datetime(2026, 3, 31, 16, 0, tzinfo=UTC), False),  # 00:00 on 1 April in Yancheng
    ],
    ids=["last-minute-local", "after-local-midnight"],
)
def test_deadlines_are_days_in_the_bureaus_time_zone(bank, monkeypatch, utc_now, allowed):
    """A window closes at midnight Beijing time, not at midnight UTC (08:00 in Yancheng)."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return utc_now.astimezone(tz)

    monkeypatch.setattr(operations, "datetime", Clock)
    with bank.declaration_in("draft") as decl:
        _shift_program(decl.program, opens_on=date(2026, 3, 1), district_deadline=date(2026, 3, 31))
        if allowed:
            act(decl, "submit", bank.actor("district_staff"))
            assert decl.stage == "district_review"
        else:
            error = assert_refused(decl, "submit", bank.actor("district_staff"), Invalid)
            assert error.reasons == ["已超过区县申报截止日期 2026-03-31"]
