"""ProjectEditForm and PrerequisiteForm: every rule with good and bad values, in Chinese."""

from datetime import date
from decimal import Decimal

import pytest

from forms.project import PrerequisiteForm, ProjectEditForm
from tests.factories import credit_code
from tests.views.html import facts, has_cjk, page

VALID = {
    "code": "2025-320903-65-01-123456",
    "name": "盐都区公共数据授权运营平台",
    "applicant_unit": "盐城测试科技有限公司",
    "applicant_uscc": credit_code(7),
    "category": "digital_government",
    "industry_chain": "数据产业",
    "nature": "new",
    "location": "盐都区潘黄街道",
    "planned_start": "2026-03",
    "planned_end": "2027-12",
    "total_investment": "1,000",
    "fund_central": "300",
    "fund_provincial": "",
    "fund_local_fiscal": "200",
    "fund_self": "500",
    "fund_loan": "",
    "fund_other": "",
    "content": "建设公共数据授权运营平台",
    "data_content": "汇聚公共数据 2 亿条",
    "is_key": "y",
    "contact_name": "王磊",
    "contact_mobile": "13912345678",
}


def with_(**changes) -> dict:
    return {**VALID, **changes}


def errors_of(form, name: str) -> list[str]:
    messages = form[name].errors
    assert messages, f"{name} has no error"
    assert all(has_cjk(m) for m in messages), messages
    return messages


def test_a_complete_project_is_accepted_and_converted(submit):
    form, ok = submit(ProjectEditForm, VALID)
    assert ok, form.errors
    assert form.total_investment.data == Decimal("1000.00")
    assert form.fund_provincial.data is None
    assert form.planned_start.data == date(2026, 3, 1)
    assert form.is_key.data is True


def test_a_draft_needs_only_a_name_and_a_category(submit):
    form, ok = submit(ProjectEditForm, {"name": "谋划中的项目", "category": "digital_economy"})
    assert ok, form.errors
    values = form.cleaned()
    assert (
        values["code"] is None and values["nature"] is None and values["total_investment"] is None
    )


@pytest.mark.parametrize(
    ("field", "message"),
    [("name", "请填写项目名称"), ("category", "请选择所属领域")],
)
def test_name_and_category_are_always_required(submit, field, message):
    form, ok = submit(ProjectEditForm, with_(**{field: ""}))
    assert not ok
    assert errors_of(form, field) == [message]


@pytest.mark.parametrize(
    "code",
    [
        "2025-320903-65-01-123456",
        "2025-320900-65-01-000001",  # the city itself
        "2024-320981-11-02-654321",  # 东台市
        "  2025-320902-65-01-123456\u3000",  # pasted with spaces, full-width included
    ],
)
def test_project_codes_of_the_city_are_accepted(submit, code):
    form, ok = submit(ProjectEditForm, with_(code=code))
    assert ok, form.errors
    assert form.code.data == code.strip().strip("\u3000")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("2025-320903-65-01-12345", "格式"),
        ("2025320903650112345 6", "格式"),
        ("2025/320903/65/01/123456", "格式"),
        ("25-320903-65-01-123456", "格式"),
        ("2025-32O903-65-01-123456", "格式"),  # letter O instead of zero
        ("2025-110101-65-01-123456", "不属于本市"),  # 北京市东城区
        ("2025-320100-65-01-123456", "不属于本市"),  # 南京市
        ("1999-320903-65-01-123456", "年份"),
        (f"{date.today().year + 2}-320903-65-01-123456", "年份"),
    ],
)
def test_bad_project_codes_are_refused(submit, code, expected):
    form, ok = submit(ProjectEditForm, with_(code=code))
    assert not ok
    assert expected in errors_of(form, "code")[0]


def test_a_credit_code_is_upper_cased_and_its_checksum_accepted(submit):
    form, ok = submit(ProjectEditForm, with_(applicant_uscc=f" {credit_code(42).lower()} "))
    assert ok, form.errors
    assert form.applicant_uscc.data == credit_code(42)


def _wrong_check_digit(code: str) -> str:
    digits = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:-1] + next(c for c in digits if c != code[-1])


@pytest.mark.parametrize(
    "value",
    [
        _wrong_check_digit(credit_code(7)),
        credit_code(7)[:17],
        credit_code(7) + "1",
        "统一社会信用代码一二三四五六七八九十",
    ],
)
def test_bad_credit_codes_are_refused(submit, value):
    form, ok = submit(ProjectEditForm, with_(applicant_uscc=value))
    assert not ok
    assert "统一社会信用代码" in errors_of(form, "applicant_uscc")[0]


@pytest.mark.parametrize("mobile", ["13912345678", "19800001111", " 15012345678 "])
def test_mainland_mobiles_are_accepted(submit, mobile):
    form, ok = submit(ProjectEditForm, with_(contact_mobile=mobile))
    assert ok, form.errors
    assert form.contact_mobile.data == mobile.strip()


@pytest.mark.parametrize(
    "mobile",
    ["1391234567", "139123456789", "23912345678", "12912345678", "139-1234-5678", "+8613912345678"],
)
def test_bad_mobiles_are_refused(submit, mobile):
    form, ok = submit(ProjectEditForm, with_(contact_mobile=mobile))
    assert not ok
    assert errors_of(form, "contact_mobile") == ["手机号码应为 11 位大陆手机号"]


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("1,234.5", Decimal("1234.50")),
        ("1,234.5", Decimal("1234.50")),  # full-width comma
        (" 1234.56 ", Decimal("1234.56")),
        ("１,２３４.５", Decimal("1234.50")),  # full-width digits typed with a Chinese IME
        ("1234.50", Decimal("1234.50")),
        ("1.230", Decimal("1.23")),  # a trailing zero is not a third decimal
        ("0", Decimal("0.00")),
        ("999999999999.99", Decimal("999999999999.99")),
    ],
)
def test_money_is_read_as_a_decimal(submit, typed, amount):
    data = with_(total_investment=typed, fund_central=typed, fund_local_fiscal="", fund_self="")
    form, ok = submit(ProjectEditForm, data)
    assert ok, form.errors
    assert form.total_investment.data == amount
    assert isinstance(form.total_investment.data, Decimal)
    assert form.total_investment.data.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "请输入数字金额(单位:万元)"),
        ("12万", "请输入数字金额(单位:万元)"),
        ("NaN", "请输入数字金额(单位:万元)"),
        ("Infinity", "请输入数字金额(单位:万元)"),
        ("-Infinity", "请输入数字金额(单位:万元)"),
        ("-1", "金额不能为负数"),
        ("1.234", "金额最多保留两位小数(单位:万元)"),
        ("0.001", "金额最多保留两位小数(单位:万元)"),
        ("1000000000000", "金额过大"),
    ],
)
@pytest.mark.parametrize("field", ["total_investment", "fund_self"])
def test_bad_money_is_refused_in_chinese(submit, field, typed, message):
    form, ok = submit(ProjectEditForm, with_(**{field: typed}))
    assert not ok
    assert message in errors_of(form, field)


def test_sources_that_do_not_add_up_are_refused_on_the_total(submit):
    form, ok = submit(ProjectEditForm, with_(fund_self="400"))
    assert not ok
    assert errors_of(form, "total_investment") == [
        "各项资金来源合计 900.00 万元,与总投资 1000.00 万元不一致"
    ]


def test_sources_may_be_left_blank_while_drafting(submit):
    blank = {name: "" for name in VALID if name.startswith("fund_")}
    form, ok = submit(ProjectEditForm, with_(**blank))
    assert ok, form.errors


def test_sources_are_added_to_the_cent(submit):
    form, ok = submit(
        ProjectEditForm,
        with_(
            total_investment="100.01",
            fund_central="33.33",
            fund_local_fiscal="33.33",
            fund_self="33.35",
        ),
    )
    assert ok, form.errors


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("2026-03", "2027-12", True),
        ("2026-03", "2026-03", True),
        ("2026-03", "2026-02", False),
        ("2027-01", "2026-12", False),
        ("", "2026-12", True),
        ("2026-03", "", True),
    ],
)
def test_planned_end_is_not_before_planned_start(submit, start, end, ok):
    form, valid = submit(ProjectEditForm, with_(planned_start=start, planned_end=end))
    assert valid is ok, form.errors
    if not ok:
        assert errors_of(form, "planned_end") == ["拟建成年月不能早于拟开工年月"]


@pytest.mark.parametrize("typed", ["2026-13", "2026/03", "二〇二六年三月", "2026-3-1"])
def test_an_unreadable_month_says_how_to_write_it(submit, typed):
    form, ok = submit(ProjectEditForm, with_(planned_start=typed))
    assert not ok
    assert "年-月" in errors_of(form, "planned_start")[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("industry_chain", "不存在的产业链"),
        ("nature", "demolition"),
        ("category", "space_program"),
    ],
)
def test_choices_outside_the_lists_are_refused(submit, field, value):
    form, ok = submit(ProjectEditForm, with_(**{field: value}))
    assert not ok
    errors_of(form, field)


@pytest.mark.parametrize(
    ("field", "limit"),
    [("name", 200), ("applicant_unit", 200), ("content", 5000), ("contact_name", 50)],
)
def test_text_longer_than_its_column_is_refused(submit, field, limit):
    form, ok = submit(ProjectEditForm, with_(**{field: "数" * limit}))
    assert ok, form.errors
    form, ok = submit(ProjectEditForm, with_(**{field: "数" * (limit + 1)}))
    assert not ok
    assert str(limit) in errors_of(form, field)[0]


# --- the form in the page -----------------------------------------------------------------


def test_a_refused_project_keeps_what_the_user_typed(world, login):
    client = login(world.staff)
    typed = with_(total_investment="abc", contact_mobile="1391234567", name="我的新项目")
    response = client.post("/projects/new", data=typed)
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("total_investment") == ["请输入数字金额(单位:万元)"]
    assert shown.field_errors("contact_mobile") == ["手机号码应为 11 位大陆手机号"]
    for name in ("name", "code", "applicant_uscc", "total_investment", "fund_central"):
        assert shown.value(name) == typed[name], name
    assert shown.value("contact_mobile") == "1391234567"
    assert shown.value("content") == typed["content"]
    assert shown.value("category") == "digital_government"
    assert shown.value("nature") == "new"
    assert shown.value("planned_end") == "2027-12"
    assert shown.checked("is_key") == ["y"]


def test_a_project_with_a_blank_nature_is_saved_as_undecided(world, login):
    client = login(world.staff)
    response = client.post("/projects/new", data=with_(nature=""))
    assert response.status_code == 302, page(response).text
    detail = page(client.get(response.headers["Location"]))
    assert facts(detail)["建设性质"] == "—"


# --- 前期要件 -------------------------------------------------------------------------------

PREREQ = {
    "kind": "feasibility_approval",
    "doc_number": "盐发改审〔2025〕12号",
    "issued_on": "2025-03-01",
    "valid_until": "2027-03-01",
}


@pytest.mark.parametrize(
    "valid_until", ["2027-03-01", "2025-03-01", ""], ids=["later", "same-day", "no-expiry"]
)
def test_a_prerequisite_valid_from_its_issue_date_is_accepted(submit, valid_until):
    form, ok = submit(PrerequisiteForm, {**PREREQ, "valid_until": valid_until})
    assert ok, form.errors
    assert form.issued_on.data == date(2025, 3, 1)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"valid_until": "2025-02-28"}, "valid_until", "有效期不能早于印发日期"),
        ({"issued_on": ""}, "issued_on", "请填写印发日期"),
        ({"issued_on": "2025-13-01"}, "issued_on", "请按「年-月-日」填写日期,例如 2026-03-15"),
        ({"issued_on": "2025年3月1日"}, "issued_on", "请按「年-月-日」填写日期,例如 2026-03-15"),
        ({"valid_until": "2027-02-30"}, "valid_until", "请按「年-月-日」填写日期,例如 2026-03-15"),
        ({"doc_number": "  "}, "doc_number", "请填写文号"),
        ({"doc_number": "号" * 101}, "doc_number", None),
        ({"kind": ""}, "kind", None),
        ({"kind": "fire_safety"}, "kind", None),
    ],
)
def test_bad_prerequisites_are_refused(submit, changes, field, message):
    form, ok = submit(PrerequisiteForm, {**PREREQ, **changes})
    assert not ok
    errors = errors_of(form, field)
    if message:
        assert errors == [message]


def test_a_refused_prerequisite_is_shown_again_with_what_was_typed(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    typed = {**PREREQ, "kind": "environmental", "valid_until": "2024-12-31"}
    response = client.post(f"/projects/{project.id}/prerequisites", data=typed)
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("valid_until") == ["有效期不能早于印发日期"]
    assert shown.value("doc_number") == typed["doc_number"]
    assert shown.value("issued_on") == "2025-03-01"
    assert shown.value("valid_until") == "2024-12-31"
    assert shown.value("kind") == "environmental"
    assert any(has_cjk(a) for a in shown.alerts())
    assert len(project.prerequisites) == 1  # nothing was added
