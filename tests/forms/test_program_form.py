"""ProgramEditForm: windows in order, limits that make sense, a ratio in percent."""

from datetime import date
from decimal import Decimal

import pytest

from forms.program import ProgramEditForm
from tests.views.html import has_cjk, page

VALID = {
    "title": "2026年数据要素×专项第一批",
    "level": "national",
    "issuer": "国家数据局",
    "channel": "central_budget",
    "year": "2026",
    "batch": "第一批",
    "support_areas": "数据要素应用",
    "notice": "各区县:……",
    "opens_on": "2026-03-01",
    "district_deadline": "2026-03-20",
    "city_deadline": "2026-03-31",
    "upstream_deadline": "2026-04-15",
    "min_request": "100",
    "max_request": "5,000",
    "max_ratio_percent": "30",
    "required_attachments": ["application", "commitment_letter"],
    "required_prerequisites": ["feasibility_approval"],
    "workflow_name": "expert_review",
    "status": "open",
}


def with_(**changes) -> dict:
    return {**VALID, **changes}


def errors_of(form, name: str) -> list[str]:
    messages = form[name].errors
    assert messages, f"{name} has no error"
    assert all(has_cjk(m) for m in messages), messages
    return messages


def test_a_complete_program_is_converted_to_model_terms(submit):
    form, ok = submit(ProgramEditForm, VALID)
    assert ok, form.errors
    values = form.program_values()
    assert values["max_ratio"] == Decimal("0.3")
    assert "max_ratio_percent" not in values
    assert values["max_request"] == Decimal("5000.00")
    assert values["opens_on"] == date(2026, 3, 1)
    assert values["year"] == 2026
    assert values["required_attachments"] == ["application", "commitment_letter"]
    assert values["workflow_name"] == "expert_review"


def test_the_workflow_is_one_of_the_shipped_definitions(submit):
    form, ok = submit(ProgramEditForm, with_(workflow_name="made_up"))
    assert not ok
    assert errors_of(form, "workflow_name")


def test_limits_may_be_left_open(submit):
    form, ok = submit(
        ProgramEditForm,
        with_(min_request="", max_request="", max_ratio_percent="", upstream_deadline=""),
    )
    assert ok, form.errors
    values = form.program_values()
    assert values["max_ratio"] is None and values["min_request"] is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"district_deadline": "2026-02-28"}, "district_deadline", "区县申报截止不能早于开放日期"),
        ({"city_deadline": "2026-03-19"}, "city_deadline", "市级审核截止不能早于区县申报截止"),
        ({"upstream_deadline": "2026-03-30"}, "upstream_deadline", "上报截止不能早于市级审核截止"),
    ],
)
def test_windows_must_be_in_order(submit, changes, field, message):
    form, ok = submit(ProgramEditForm, with_(**changes))
    assert not ok
    assert errors_of(form, field) == [message]


def test_windows_may_share_a_day(submit):
    day = "2026-03-20"
    form, ok = submit(
        ProgramEditForm,
        with_(opens_on=day, district_deadline=day, city_deadline=day, upstream_deadline=day),
    )
    assert ok, form.errors


@pytest.mark.parametrize(("low", "high", "ok"), [("100", "100", True), ("100.01", "100", False)])
def test_the_lower_limit_is_not_above_the_upper(submit, low, high, ok):
    form, valid = submit(ProgramEditForm, with_(min_request=low, max_request=high))
    assert valid is ok
    if not ok:
        assert errors_of(form, "max_request") == ["上限不能低于下限"]


@pytest.mark.parametrize(("percent", "ratio"), [("100", "1"), ("0.01", "0.0001"), ("50", "0.5")])
def test_ratios_up_to_a_hundred_percent_are_accepted(submit, percent, ratio):
    form, ok = submit(ProgramEditForm, with_(max_ratio_percent=percent))
    assert ok, form.errors
    assert form.program_values()["max_ratio"] == Decimal(ratio)


@pytest.mark.parametrize(
    ("percent", "message"),
    [
        ("0", "比例应在 0 到 100 之间"),
        ("100.01", "比例应在 0 到 100 之间"),
        ("150", "比例应在 0 到 100 之间"),
        ("-10", "金额不能为负数"),
        ("三成", "请输入数字金额(单位:万元)"),
    ],
)
def test_ratios_outside_zero_to_a_hundred_are_refused(submit, percent, message):
    form, ok = submit(ProgramEditForm, with_(max_ratio_percent=percent))
    assert not ok
    assert message in errors_of(form, "max_ratio_percent")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": " "}, "title", "请填写批次名称"),
        ({"issuer": ""}, "issuer", "请填写发文单位"),
        ({"year": ""}, "year", "请填写年度"),
        ({"year": "1999"}, "year", "年度不合理"),
        ({"year": "二〇二六"}, "year", None),
        ({"opens_on": ""}, "opens_on", "请填写开放日期"),
        ({"opens_on": "2026/03/01"}, "opens_on", "请按「年-月-日」填写日期,例如 2026-03-15"),
        ({"city_deadline": ""}, "city_deadline", "请填写市级截止日期"),
        ({"level": "galactic"}, "level", None),
        ({"channel": ""}, "channel", None),
        ({"status": "deleted"}, "status", None),
        ({"required_attachments": ["application", "selfie"]}, "required_attachments", None),
        ({"title": "批" * 201}, "title", None),
    ],
)
def test_bad_programs_are_refused_in_chinese(submit, changes, field, message):
    form, ok = submit(ProgramEditForm, with_(**changes))
    assert not ok
    errors = errors_of(form, field)
    if message:
        assert errors == [message]


def test_a_refused_program_keeps_what_was_typed(world, login):
    client = login(world.city)
    typed = with_(district_deadline="2026-02-01", max_ratio_percent="120", notice="第一段\n第二段")
    response = client.post("/programs/new", data=typed)
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("district_deadline") == ["区县申报截止不能早于开放日期"]
    assert shown.field_errors("max_ratio_percent") == ["比例应在 0 到 100 之间"]
    assert shown.value("title") == typed["title"]
    assert shown.value("district_deadline") == "2026-02-01"
    assert shown.value("max_ratio_percent") == "120"
    assert shown.value("max_request") == "5,000"
    assert shown.value("notice") == "第一段\n第二段"
    assert shown.value("level") == "national"
    assert shown.checked("required_attachments") == ["application", "commitment_letter"]
    assert shown.value("workflow_name") == "expert_review"
