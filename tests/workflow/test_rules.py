"""The business rules as pure functions: good values pass, each bad value gets its message."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from stdnum.cn import uscc

from workflow import rules

CITY = "320900"
TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(
    "code",
    [
        "2025-320903-65-01-123456",
        "2026-320902-04-02-000001",
        "2027-320981-65-01-999999",  # next year's codes are issued late in the year
        "2000-320900-65-01-123456",  # city level
    ],
)
def test_good_project_codes(code):
    assert rules.project_code_error(code, CITY, TODAY) is None


SHAPE = "项目代码格式应为 YYYY-RRRRRR-DD-TT-NNNNNN,例如 2025-320903-65-01-123456"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("2025-310101-65-01-123456", "项目代码中的区划代码 310101 不属于本市(320900)"),
        ("2025-320803-65-01-123456", "项目代码中的区划代码 320803 不属于本市(320900)"),
        ("1999-320903-65-01-123456", "项目代码中的年份 1999 不合理"),
        ("2028-320903-65-01-123456", "项目代码中的年份 2028 不合理"),
        ("2025_320903_65_01_123456", SHAPE),
        ("2025-320903-65-01_123456", SHAPE),
        ("2025320903650112345600", SHAPE),
        ("2025-320903-65-01-12345", SHAPE),
        ("2025-320903-65-01-1234567", SHAPE),
        ("25-320903-65-01-123456", SHAPE),
        ("2025-32090-65-01-123456", SHAPE),
        ("2025-320903-6-01-123456", SHAPE),
        ("2025-320903-65-1-123456", SHAPE),
        ("2025-320903-AB-01-123456", SHAPE),
        (" 2025-320903-65-01-123456", SHAPE),
        ("2025-320903-65-01-123456\n", SHAPE),
        ("２０２５-320903-65-01-123456", SHAPE),  # full-width digits
        ("2025-320903-65-01-١٢٣٤٥٦", SHAPE),  # Arabic-Indic digits
        ("", SHAPE),
        (None, SHAPE),
    ],
)
def test_bad_project_codes(code, message):
    assert rules.project_code_error(code, CITY, TODAY) == message


def test_project_code_region_follows_the_configured_city():
    """Districts are data: another city checks against its own code."""
    assert rules.project_code_error("2025-310101-65-01-123456", "310100", TODAY) is None


def _credit_code(body: str) -> str:
    return body + uscc.calc_check_digit(body)


GOOD_USCC = [
    _credit_code("91320903MA1MXYK00"),  # a company (企业)
    _credit_code("11320900014000000"),  # a government agency (机关)
    _credit_code("52320900MJ0000000"),  # a social organisation (民办非企业单位)
]


@pytest.mark.parametrize("value", GOOD_USCC)
def test_good_credit_codes(value):
    assert rules.uscc_error(value) is None


def _wrong_check_digit(code: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:-1] + next(c for c in alphabet if c != code[-1])


@pytest.mark.parametrize(
    "value",
    [
        _wrong_check_digit(GOOD_USCC[0]),
        _wrong_check_digit(GOOD_USCC[2]),
        GOOD_USCC[0][:17],  # 17 characters
        GOOD_USCC[0] + "0",  # 19 characters
        GOOD_USCC[0][:8] + "I" + GOOD_USCC[0][9:],  # I is not in the alphabet
        "9132 0903MA1MXYK00" + GOOD_USCC[0][-1],  # inner space: would not fit the column
        GOOD_USCC[2].lower(),  # the forms upper-case first; stored codes are upper case
        "",
        None,
    ],
)
def test_bad_credit_codes(value):
    assert rules.uscc_error(value) == "统一社会信用代码无效(应为 18 位,且校验位正确)"


@pytest.mark.parametrize("value", ["13912345678", "15012345678", "19900000000", "18605150000"])
def test_good_mobiles(value):
    assert rules.mobile_error(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "12912345678",  # no 12x mobile segment
        "10912345678",
        "1391234567",  # 10 digits
        "139123456789",  # 12 digits
        "1391234567a",
        "abcdefghijk",
        "139-1234-5678",
        "+8613912345678",
        "0515-88888888",  # a landline
        "13912345678\n",
        "１３９１２３４５６７８",  # full-width digits
        "",
        None,
    ],
)
def test_bad_mobiles(value):
    assert rules.mobile_error(value) == "手机号码应为 11 位大陆手机号"


def _sources(**amounts) -> dict:
    values = dict.fromkeys(
        ["fund_central", "fund_provincial", "fund_local_fiscal", "fund_self", "fund_loan"]
    )
    values["fund_other"] = None
    values.update({k: Decimal(v) for k, v in amounts.items()})
    return values


@pytest.mark.parametrize(
    ("total", "sources"),
    [
        ("1000.00", _sources(fund_central="300", fund_local_fiscal="200", fund_self="500")),
        ("0.03", _sources(fund_central="0.01", fund_self="0.02")),  # exact, unlike floats
        ("1000", _sources(fund_self="1000.00")),
        (None, _sources(fund_self="12")),  # nothing to compare with yet
        ("1000", _sources()),  # sources not filled in yet: the form asks for them separately
    ],
)
def test_funding_sources_adding_up(total, sources):
    assert rules.funding_sum_error(Decimal(total) if total else None, sources) is None


@pytest.mark.parametrize(
    ("total", "sources", "message"),
    [
        (
            "1000.00",
            _sources(fund_central="300", fund_self="500"),
            "各项资金来源合计 800 万元,与总投资 1000.00 万元不一致",
        ),
        (
            "1000.00",
            _sources(fund_central="300", fund_self="700.01"),
            "各项资金来源合计 1000.01 万元,与总投资 1000.00 万元不一致",
        ),
    ],
)
def test_funding_sources_not_adding_up(total, sources, message):
    assert rules.funding_sum_error(Decimal(total), sources) == message


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        (date(2026, 3, 1), date(2027, 12, 1), True),
        (date(2026, 3, 1), date(2026, 3, 1), True),
        (None, date(2026, 3, 1), True),
        (date(2026, 3, 1), None, True),
        (date(2026, 3, 1), date(2026, 2, 28), False),
    ],
)
def test_date_order(start, end, ok):
    error = rules.date_order_error(start, end, "拟开工年月", "拟建成年月")
    assert error == (None if ok else "拟建成年月不能早于拟开工年月")


PROGRAM = SimpleNamespace(
    min_request=Decimal("10"), max_request=Decimal("1000"), max_ratio=Decimal("0.5")
)
UNLIMITED = SimpleNamespace(min_request=None, max_request=None, max_ratio=None)


@pytest.mark.parametrize(
    ("amount", "total", "program", "errors"),
    [
        ("300", "1000", PROGRAM, []),
        ("10", "1000", PROGRAM, []),  # the lower limit itself
        ("500", "1000", PROGRAM, []),  # exactly the ratio
        ("1000", "2000", PROGRAM, []),  # the upper limit itself
        (None, "1000", PROGRAM, []),  # not filled in: completeness asks for it
        ("9.99", "1000", PROGRAM, ["申请资金不得低于本批次下限 10 万元"]),
        ("1000.01", "3000", PROGRAM, ["申请资金不得超过本批次上限 1000 万元"]),
        (
            "500.01",
            "1000",
            PROGRAM,
            ["申请资金占总投资比例 50.00% 超过本批次上限 50%,本项目最多可申请 500.00 万元"],
        ),
        (
            "600",
            "1000",
            PROGRAM,
            ["申请资金占总投资比例 60.00% 超过本批次上限 50%,本项目最多可申请 500.00 万元"],
        ),
        ("1200", "1000", UNLIMITED, ["申请资金不能超过项目总投资"]),
        ("0", "1000", UNLIMITED, ["申请资金必须大于 0"]),
        ("-1", "1000", UNLIMITED, ["申请资金必须大于 0"]),
        (
            "1200",
            "1000",
            PROGRAM,
            ["申请资金不得超过本批次上限 1000 万元", "申请资金不能超过项目总投资"],
        ),
        ("5000", None, UNLIMITED, []),  # no total yet: only the program's own limits apply
    ],
)
def test_requested_amount(amount, total, program, errors):
    result = rules.requested_amount_errors(
        Decimal(amount) if amount else None, Decimal(total) if total else None, program
    )
    assert result == errors


FIELDS = [
    {"name": "necessity", "label": "项目建设必要性", "required": True, "max_length": 10},
    {"name": "data_benefits", "label": "数据赋能成效", "required": False, "max_length": 5},
]


@pytest.mark.parametrize(
    ("data", "for_submission", "errors"),
    [
        ({"necessity": "必要"}, True, {}),
        ({}, False, {}),  # a draft may be saved half done
        ({}, True, {"necessity": "请填写「项目建设必要性」"}),
        ({"necessity": "   "}, True, {"necessity": "请填写「项目建设必要性」"}),
        (
            {"necessity": "必要", "data_benefits": "一二三四五六"},
            False,
            {"data_benefits": "「数据赋能成效」不能超过 5 字"},
        ),
    ],
)
def test_form_fields(data, for_submission, errors):
    assert rules.form_field_errors(FIELDS, data, for_submission=for_submission) == errors


GOOD_PROJECT = {
    "code": "2025-320903-65-01-123456",
    "applicant_uscc": "91320903MA0000001" + uscc.calc_check_digit("91320903MA0000001"),
    "contact_mobile": "13912345678",
    "industry_chain": "数据产业",
    "planned_start": date(2026, 3, 1),
    "planned_end": date(2027, 12, 1),
    "total_investment": Decimal("1000"),
    "fund_central": Decimal("400"),
    "fund_self": Decimal("600"),
}
BROKEN_PROJECT = {
    **GOOD_PROJECT,
    "code": "2025-310101-65-01-123456",
    "applicant_uscc": "91320903MA00000019",
    "contact_mobile": "1391234567",
    "industry_chain": "房地产",
    "planned_end": date(2025, 1, 1),
    "fund_self": Decimal("1"),
}
EVERY_PROJECT_ERROR = {
    "code": "项目代码中的区划代码 310101 不属于本市(320900)",
    "applicant_uscc": "统一社会信用代码无效(应为 18 位,且校验位正确)",
    "contact_mobile": "手机号码应为 11 位大陆手机号",
    "industry_chain": "产业链应为系统配置的产业链之一,不属于特定产业链时留空",
    "total_investment": "各项资金来源合计 401 万元,与总投资 1000 万元不一致",
    "planned_end": "拟建成年月不能早于拟开工年月",
}


def test_a_good_project_has_no_field_errors():
    assert rules.project_field_errors(GOOD_PROJECT, CITY, industry_chains=["数据产业"]) == {}
    # Blank optional fields break no rule, as on the form.
    assert rules.project_field_errors({}, CITY, industry_chains=[]) == {}


def test_every_broken_project_rule_is_reported_under_its_field():
    errors = rules.project_field_errors(
        BROKEN_PROJECT, CITY, industry_chains=["数据产业"], today=TODAY
    )
    assert errors == EVERY_PROJECT_ERROR


def test_without_a_chain_list_the_chain_is_not_checked():
    assert "industry_chain" not in rules.project_field_errors(BROKEN_PROJECT, CITY)


@pytest.mark.parametrize(
    ("changed", "fields"),
    [
        (set(), set()),
        ({"name"}, set()),
        ({"code"}, {"code"}),
        ({"fund_loan"}, {"total_investment"}),  # a source changed: the sum is checked again
        ({"total_investment"}, {"total_investment"}),
        ({"planned_start"}, {"planned_end"}),
        ({"contact_mobile", "applicant_uscc"}, {"contact_mobile", "applicant_uscc"}),
    ],
)
def test_a_partial_change_answers_only_for_the_rules_it_touches(changed, fields):
    errors = rules.project_field_errors(
        BROKEN_PROJECT, CITY, industry_chains=["数据产业"], today=TODAY, changed=changed
    )
    assert set(errors) == fields
