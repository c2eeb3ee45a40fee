"""The workbooks: office layout, exact money, totals, and no cell that can start a formula."""

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from documents.excel import (
    FORMULA_PREFIXES,
    LIBRARY_COLUMNS,
    import_template_workbook,
    library_workbook,
    safe_cell,
    summary_workbook,
)

HOSTILE = [
    '=HYPERLINK("http://evil.example","点我")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
]


def read(content: bytes):
    return load_workbook(io.BytesIO(content)).active


def cells(ws):
    return [c for row in ws.iter_rows() for c in row if c.value is not None]


def assert_no_formula(ws):
    for cell in cells(ws):
        assert cell.data_type != "f", cell.coordinate
        if isinstance(cell.value, str):
            assert not cell.value.startswith(FORMULA_PREFIXES), (cell.coordinate, cell.value)


def library_row(**overrides):
    row = {
        "district": "盐都区",
        "name": "盐都区城市生命线感知平台",
        "code": "2025-320903-65-01-000001",
        "applicant_unit": "盐城测试科技有限公司",
        "category": "数字经济",
        "planned_start": "2026-03",
        "total_investment": Decimal("1234.56"),
        "fund_central": Decimal("1000.00"),
        "fund_self": Decimal("234.56"),
        "contact_mobile": "13912345678",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_cell_guards_text_that_could_start_a_formula(text):
    guarded = safe_cell(text)
    assert guarded.startswith("'")
    assert text.lstrip("\t\r") in guarded


@pytest.mark.parametrize("value", ["盐城", "1+1", "13912345678", Decimal("-5"), 3, None])
def test_safe_cell_leaves_ordinary_values_alone(value):
    assert safe_cell(value) == value


def test_library_workbook_has_headers_values_and_exact_money():
    ws = read(library_workbook([library_row()]))
    headers = [c.value for c in ws[2]]
    assert headers == [c.header for c in LIBRARY_COLUMNS]
    values = dict(zip(headers, (c.value for c in ws[3]), strict=True))
    assert values["序号"] == 1
    assert values["项目名称"] == "盐都区城市生命线感知平台"
    assert values["拟开工年月"] == "2026-03"
    assert Decimal(str(values["总投资(万元)"])) == Decimal("1234.56")
    money = ws.cell(row=3, column=headers.index("总投资(万元)") + 1)
    assert money.data_type == "n" and money.number_format == "#,##0.00"
    assert ws.freeze_panes == "D3"
    assert "A1" in str(ws.merged_cells)


def test_no_exported_cell_can_start_a_formula():
    rows = [library_row(name=text, applicant_unit=text, content=text) for text in HOSTILE]
    ws = read(library_workbook(rows))
    assert_no_formula(ws)
    assert ws.cell(row=3, column=3).value == "'" + HOSTILE[0]
    summary = read(summary_workbook({"title": HOSTILE[0]}, rows))
    assert_no_formula(summary)


def test_summary_workbook_layout_and_totals():
    rows = [
        library_row(requested_amount=Decimal("300.10"), content_brief="建设内容"),
        library_row(
            name="第二个项目",
            total_investment=Decimal("0.01"),
            fund_central=None,
            fund_self=Decimal("0.01"),
            requested_amount=Decimal("0.02"),
        ),
    ]
    ws = read(summary_workbook({"title": "2026年数据产业项目"}, rows))
    assert ws["A1"].value == "2026年数据产业项目 项目汇总表"
    header_top = [c.value for c in ws[3]]
    header_sub = [c.value for c in ws[4]]
    assert header_top[:8] == ["序号", "区县", "项目名称", "项目代码", "申报单位", "建设内容(简)",
                              "总投资", "申请资金"]  # fmt: skip
    assert header_top[8] == "资金来源"
    assert header_sub[8:14] == ["中央资金", "省级资金", "地方财政配套", "企业自筹", "银行贷款",
                                "其他资金"]  # fmt: skip
    assert header_top[14:17] == ["建设起止年限", "联系人", "电话"]
    total = [c.value for c in ws[7]]
    assert total[0] == "合计"
    assert "共 2 个项目" in total[2]
    assert Decimal(str(total[6])) == Decimal("1234.57")
    assert Decimal(str(total[7])) == Decimal("300.12")
    assert Decimal(str(total[8])) == Decimal("1000.00")
    assert ws.freeze_panes == "D5"


def test_import_template_headers_mark_required_columns():
    ws = read(import_template_workbook(categories=["数字经济"], natures=["新建"]))
    headers = [c.value for c in ws[1]]
    assert "*项目名称" in headers and "*所属领域" in headers
    assert "总投资(万元)" in headers


# --- the reserve plan (储备库滚动计划) ------------------------------------------------------


def reserve_row(**overrides):
    row = {
        "name": "盐都区数据要素流通平台",
        "district": "盐都区",
        "category": "数字经济",
        "total_investment": Decimal("1000.00"),
        "planned_amount": Decimal("300.25"),
        "declare_year": "2026年",
        "start_year": "2027年",
        "priority": "高",
        "is_key": "是",
        "maturity": "储备",
    }
    row.update(overrides)
    return row


def test_reserve_plan_layout_with_title_header_and_sum_row():
    from documents.excel import RESERVE_COLUMNS, reserve_plan_workbook

    rows = [reserve_row(), reserve_row(name="二号", planned_amount=None)]
    ws = read(reserve_plan_workbook(rows, title="全市滚动储备计划", subtitle="金额单位:万元"))
    assert ws["A1"].value == "全市滚动储备计划"
    assert "A1:K1" in [str(r) for r in ws.merged_cells.ranges]
    assert [c.value for c in ws[3]] == [
        "序号",
        "项目名称",
        "区县",
        "类别",
        "总投资(万元)",
        "计划申请资金(万元)",
        "计划申报年度",
        "计划开工年度",
        "优先级",
        "重点项目",
        "成熟度",
    ]
    assert len(RESERVE_COLUMNS) == 11
    assert [c.value for c in ws[4]][:2] == [1, "盐都区数据要素流通平台"]
    assert ws["F4"].value == Decimal("300.25") or ws["F4"].value == 300.25
    assert ws["F4"].number_format == "#,##0.00"
    total = [c.value for c in ws[6]]
    assert total[:2] == ["合计", "共 2 个项目"]
    assert total[4] == 2000 and total[5] == pytest.approx(300.25)


@pytest.mark.parametrize("text", HOSTILE)
def test_reserve_plan_cells_never_start_a_formula(text):
    from documents.excel import reserve_plan_workbook

    ws = read(reserve_plan_workbook([reserve_row(name=text, district=text)], title=text))
    assert_no_formula(ws)
