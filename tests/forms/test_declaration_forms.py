"""The declaration's own form (declaration_edit_form) and the review action form."""

from datetime import date
from decimal import Decimal

import pytest

from forms.declaration import ReviewActionForm, declaration_edit_form
from tests.views.html import has_cjk, page

FIELDS = [
    {"name": "necessity", "label": "项目建设必要性", "kind": "textarea", "required": True,
     "max_length": 300},
    {"name": "contact_note", "label": "备注", "kind": "text", "required": False, "max_length": 20},
    {"name": "plan", "label": "实施计划", "kind": "textarea", "required": False},
]  # fmt: skip


@pytest.fixture
def limits(world, make_program, make_project):
    """A program asking 10–1000 万元 and at most 50%, and a project of 1000 万元."""
    program = make_program(
        min_request=Decimal("10"),
        max_request=Decimal("1000"),
        max_ratio=Decimal("0.5"),
        form_fields=FIELDS,
    )
    project = make_project(world.yandu, total_investment=Decimal("1000.00"))
    return program, project


def errors_of(form, name: str) -> list[str]:
    messages = form[name].errors
    assert messages, f"{name} has no error"
    assert all(has_cjk(m) for m in messages), messages
    return messages


@pytest.mark.parametrize(
    ("typed", "amount"),
    [("300", "300.00"), ("10", "10.00"), ("500", "500.00"), ("1,00.5", "100.50"), ("", None)],
)
def test_amounts_within_the_program_limits_are_accepted(submit, limits, typed, amount):
    program, project = limits
    form, ok = submit(lambda: declaration_edit_form(program, project), {"requested_amount": typed})
    assert ok, form.errors
    assert form.requested_amount.data == (Decimal(amount) if amount else None)


@pytest.mark.parametrize(
    ("typed", "total", "messages"),
    [
        ("9.99", "1000", ["申请资金不得低于本批次下限 10.00 万元"]),
        (
            "500.01",
            "1000",
            ["申请资金占总投资比例 50.00% 超过本批次上限 50%,本项目最多可申请 500.00 万元"],
        ),
        ("1000.01", "5000", ["申请资金不得超过本批次上限 1000.00 万元"]),
        ("300", "200", ["申请资金不能超过项目总投资"]),
        ("1200", "1000", ["申请资金不得超过本批次上限 1000.00 万元", "申请资金不能超过项目总投资"]),
        ("0", "1000", ["金额必须大于 0"]),
        ("-5", "1000", ["金额不能为负数"]),
        ("abc", "1000", ["请输入数字金额(单位:万元)"]),
        ("NaN", "1000", ["请输入数字金额(单位:万元)"]),
        ("12.345", "1000", ["金额最多保留两位小数(单位:万元)"]),
    ],
)
def test_amounts_outside_the_limits_are_refused(submit, limits, typed, total, messages):
    program, project = limits
    project.total_investment = Decimal(total)
    form, ok = submit(lambda: declaration_edit_form(program, project), {"requested_amount": typed})
    assert not ok
    shown = ";".join(errors_of(form, "requested_amount"))
    for message in messages:
        assert message in shown


def test_a_program_without_limits_only_checks_the_total(submit, make_program, world, make_project):
    program = make_program(min_request=None, max_request=None, max_ratio=None, form_fields=[])
    project = make_project(world.yandu, total_investment=Decimal("1000.00"))
    form, ok = submit(lambda: declaration_edit_form(program, project), {"requested_amount": "1000"})
    assert ok, form.errors
    form, ok = submit(lambda: declaration_edit_form(program, project), {"requested_amount": "1001"})
    assert errors_of(form, "requested_amount") == ["申请资金不能超过项目总投资"]


def test_the_program_fields_become_inputs_of_their_kind(app, limits):
    program, project = limits
    with app.test_request_context():
        form = declaration_edit_form(program, project)
        assert form.f_necessity.type == "TextAreaField"
        assert form.f_contact_note.type == "StringField"
        assert form.f_necessity.label.text == "项目建设必要性"
        assert form.f_necessity.description == "提交前必填,不超过 300 字"
        assert form.f_contact_note.description == "不超过 20 字"


@pytest.mark.parametrize(
    ("name", "limit", "label"),
    [
        ("necessity", 300, "项目建设必要性"),
        ("contact_note", 20, "备注"),
        ("plan", 5000, "实施计划"),
    ],
)
def test_program_fields_keep_to_their_max_length(submit, limits, name, limit, label):
    program, project = limits
    make = lambda: declaration_edit_form(program, project)  # noqa: E731
    form, ok = submit(make, {f"f_{name}": "字" * limit})
    assert ok, form.errors
    assert form.form_data()[name] == "字" * limit
    form, ok = submit(make, {f"f_{name}": "字" * (limit + 1)})
    assert not ok
    assert errors_of(form, f"f_{name}") == [f"「{label}」不能超过 {limit} 字"]


def test_required_program_fields_may_be_blank_while_drafting(submit, limits):
    program, project = limits
    form, ok = submit(lambda: declaration_edit_form(program, project), {"f_necessity": "  "})
    assert ok, form.errors
    assert form.form_data() == {"necessity": "", "contact_note": "", "plan": ""}


def test_a_refused_declaration_keeps_what_the_user_typed(
    world, login, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    client = login(world.staff)
    typed = {"requested_amount": "5", "f_necessity": "因为\n需要", "version": str(decl.version)}
    response = client.post(f"/declarations/{decl.id}/edit", data=typed)
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("requested_amount") == ["申请资金不得低于本批次下限 10.00 万元"]
    assert shown.value("requested_amount") == "5"
    assert shown.value("f_necessity") == "因为\n需要"
    assert decl.requested_amount == Decimal("300.00")  # nothing saved


def test_a_too_long_answer_is_shown_beside_its_field(world, login, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    client = login(world.staff)
    response = client.post(
        f"/declarations/{decl.id}/edit",
        data={"requested_amount": "300", "f_necessity": "长" * 3001},
    )
    assert response.status_code == 422
    assert page(response).field_errors("f_necessity") == ["「项目建设必要性」不能超过 3000 字"]


# --- ReviewActionForm -----------------------------------------------------------------------

ACTION = {"action": "return_for_revision", "version": "3", "comment": "请补充可研批复"}


def test_an_action_with_its_version_is_accepted(submit):
    form, ok = submit(ReviewActionForm, ACTION)
    assert ok, form.errors
    assert form.comment.data == "请补充可研批复"


def test_an_approval_record_is_converted(submit):
    form, ok = submit(
        ReviewActionForm,
        {
            "action": "record_approval",
            "version": "7",
            "approval_doc_number": " 发改投资〔2026〕88号 ",
            "approved_amount": "1,200.5",
            "approved_on": "2026-06-30",
        },
    )
    assert ok, form.errors
    assert form.approval_doc_number.data == "发改投资〔2026〕88号"
    assert form.approved_amount.data == Decimal("1200.50")
    assert form.approved_on.data == date(2026, 6, 30)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"version": "abc"}, "version", "版本号无效,请刷新页面"),
        ({"version": "-1"}, "version", "版本号无效,请刷新页面"),
        ({"version": ""}, "version", None),
        ({"action": ""}, "action", None),
        ({"comment": "意" * 2001}, "comment", None),
        ({"approved_amount": "一百万"}, "approved_amount", "请输入数字金额(单位:万元)"),
        ({"approved_amount": "-3"}, "approved_amount", "金额不能为负数"),
        ({"approved_on": "2026-02-30"}, "approved_on", "请按「年-月-日」填写日期,例如 2026-03-15"),
        ({"approval_doc_number": "号" * 101}, "approval_doc_number", None),
    ],
)
def test_bad_actions_are_refused_in_chinese(submit, changes, field, message):
    form, ok = submit(ReviewActionForm, {**ACTION, **changes})
    assert not ok
    errors = errors_of(form, field)
    if message:
        assert errors == [message]


def test_the_comment_is_trimmed_and_blank_is_allowed_by_the_form(submit):
    # Whether a comment is required depends on the action; the workflow guard decides that.
    form, ok = submit(ReviewActionForm, {**ACTION, "comment": "\u3000 "})
    assert ok, form.errors
    assert form.comment.data == ""
