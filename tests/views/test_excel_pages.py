"""Excel pages: exports follow the filters and the user's district; imports are all or nothing."""

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests import factories
from tests.views.html import page
from workflow.extensions import db
from workflow.models import AuditEvent, Project

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == XLSX
    assert "attachment" in response.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(response.data)).active


def column(ws, header: str, header_row: int = 2) -> list:
    """A column's values below its header (the 汇总表 has a second header row under row 3)."""
    headers = [c.value for c in ws[header_row]]
    index = headers.index(header)
    first = header_row + (2 if header_row == 3 else 1)
    return [row[index].value for row in ws.iter_rows(min_row=first)]


def test_library_export_follows_filters_and_neutralises_formulas(world, login, make_project):
    make_project(
        world.yandu, name='=HYPERLINK("http://evil.example","点我")', category="data_security"
    )
    make_project(world.yandu, name="数字经济项目", total_investment=Decimal("1000.00"))
    client = login(world.city)
    ws = sheet(client.get("/projects/export.xlsx", query_string={"category": "data_security"}))
    names = column(ws, "项目名称")
    assert names == ['\'=HYPERLINK("http://evil.example","点我")']
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    ws = sheet(client.get("/projects/export.xlsx", query_string={"q": "数字经济"}))
    assert column(ws, "项目名称") == ["数字经济项目"]
    assert Decimal(str(column(ws, "总投资(万元)")[0])) == Decimal("1000.00")
    assert column(ws, "区县") == ["盐都区"]


def test_district_users_export_only_their_district(world, login, make_project):
    make_project(world.yandu, name="盐都项目")
    make_project(world.tinghu, name="亭湖项目")
    ws = sheet(login(world.staff).get("/projects/export.xlsx"))
    assert column(ws, "项目名称") == ["盐都项目"]
    ws = sheet(login(world.other_reviewer).get("/projects/export.xlsx", query_string={
        "district": str(world.yandu.id)}))  # fmt: skip
    assert column(ws, "项目名称") == ["亭湖项目"]
    ws = sheet(login(world.manager).get("/projects/export.xlsx"))
    assert sorted(column(ws, "项目名称")) == ["亭湖项目", "盐都项目"]


def _at_stage(project, program, staff, stage, amount="300.00"):
    decl = factories.declaration(project, program, by=staff, requested_amount=Decimal(amount))
    decl.stage = stage  # the summary only reads stages; the workflow has its own tests
    db.session.commit()
    return decl


def test_program_summary_lists_city_stages_with_totals_and_scope(world, login, make_project):
    program = world.program
    _at_stage(make_project(world.yandu, name="盐都复审"), program, world.staff, "city_review")
    _at_stage(
        make_project(world.tinghu, name="亭湖推荐"), program, world.other_staff, "recommended",
        "200.50",
    )  # fmt: skip
    _at_stage(make_project(world.yandu, name="盐都草稿"), program, world.staff, "draft")
    ws = sheet(login(world.city).get(f"/programs/{program.id}/summary.xlsx"))
    assert ws["A1"].value == f"{program.title} 项目汇总表"
    names = column(ws, "项目名称", header_row=3)
    assert sorted(names[:-1]) == ["亭湖推荐", "盐都复审"]
    assert names[-1] == "共 2 个项目"
    assert Decimal(str(column(ws, "申请资金", header_row=3)[-1])) == Decimal("500.50")
    assert Decimal(str(column(ws, "总投资", header_row=3)[-1])) == Decimal("2000.00")
    ws = sheet(login(world.staff).get(f"/programs/{program.id}/summary.xlsx"))
    assert column(ws, "项目名称", header_row=3) == ["盐都复审", "共 1 个项目"]
    assert login(world.city).get("/programs/9999/summary.xlsx").status_code == 404


def test_pages_link_to_the_exports(world, login):
    client = login(world.staff)
    links = page(client.get("/projects?category=data_security")).links()
    assert any(link.startswith("/projects/export.xlsx?category=data_security") for link in links)
    assert "/projects/import" in links
    assert (
        f"/programs/{world.program.id}/summary.xlsx"
        in page(client.get(f"/programs/{world.program.id}")).links()
    )


def filled_template(client, rows: list[dict]) -> bytes:
    wb = load_workbook(io.BytesIO(client.get("/projects/import-template.xlsx").data))
    ws = wb.active
    headers = [str(c.value).lstrip("*") for c in ws[1]]
    for n, row in enumerate(rows, start=3):
        for key, value in row.items():
            ws.cell(row=n, column=headers.index(key) + 1, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def good_row(n: int, **overrides) -> dict:
    row = {
        "项目名称": f"导入项目{n}",
        "项目代码": f"2026-320903-65-01-{n:06d}",
        "申报单位": "盐城测试科技有限公司",
        "统一社会信用代码": factories.credit_code(900 + n),
        "所属领域": "数字政府",
        "建设性质": "新建",
        "产业链": "数据产业",
        "拟开工年月": "2026-03",
        "拟建成年月": "2027-12",
        "总投资(万元)": 1234.56,
        "中央资金(万元)": "1000",
        "企业自筹(万元)": 234.56,
        "联系人": "王磊",
        "联系电话": 13912345678,
        "重点项目": "是",
    }
    row.update(overrides)
    return row


def upload(client, content: bytes, name: str = "项目.xlsx"):
    return client.post(
        "/projects/import",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def counts():
    projects = db.session.scalar(select(func.count()).select_from(Project))
    audits = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "create")
    )
    return projects, audits


def test_import_creates_every_project_with_its_audit_row(world, login):
    client = login(world.staff)
    assert client.get("/projects/import").status_code == 200
    response = upload(client, filled_template(client, [good_row(1), good_row(2), good_row(3)]))
    assert response.status_code == 302
    assert "已导入 3 个项目" in page(client.get(response.headers["Location"])).alerts()[0]
    assert counts() == (3, 3)
    project = db.session.scalars(select(Project).where(Project.name == "导入项目1")).one()
    assert project.district_id == world.yandu.id and project.maturity == "planning"
    assert project.total_investment == Decimal("1234.56") and project.fund_self == Decimal("234.56")
    assert project.category == "digital_government" and project.nature == "new"
    assert project.contact_mobile == "13912345678" and project.is_key
    assert project.planned_start.isoformat() == "2026-03-01"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"统一社会信用代码": "91320903MA00000000"}, "统一社会信用代码", "统一社会信用代码无效"),
        ({"企业自筹(万元)": 200}, "总投资", "与总投资"),
        ({"总投资(万元)": "12.345"}, "总投资", "两位小数"),
        ({"拟开工年月": "明年三月"}, "拟开工年月", "年-月"),
        ({"所属领域": "人工智能"}, "所属领域", "数字经济"),
        ({"项目代码": "2025-110101-65-01-000001"}, "项目代码", "不属于本市"),
        ({"联系电话": "12345"}, "联系电话", "11 位"),
        ({"项目名称": None}, "项目名称", "请填写"),
    ],
)
def test_one_bad_row_imports_nothing_and_names_row_and_field(world, login, overrides, field, words):
    client = login(world.staff)
    content = filled_template(client, [good_row(1), good_row(2, **overrides), good_row(3)])
    response = upload(client, content)
    assert response.status_code == 422
    shown = page(response)
    assert "未导入任何项目" in shown.alerts()[0]
    problems = shown.rows("import-errors")
    assert len(problems) == 1, problems
    assert problems[0].startswith("4 " + field), problems
    assert f"第 4 行「{field}」" in problems[0] and words in problems[0]
    assert counts() == (0, 0)


def test_duplicate_codes_in_one_file_are_reported(world, login):
    client = login(world.staff)
    code = "2026-320903-65-01-000001"
    response = upload(
        client, filled_template(client, [good_row(1), good_row(2, **{"项目代码": code})])
    )
    assert response.status_code == 422
    assert "与第 3 行的项目代码重复" in page(response).text
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"%PDF-1.4 not a sheet", "项目.pdf", "只能上传 .xlsx"),
        (b"%PDF-1.4 not a sheet", "项目.xlsx", "不是有效的 Excel 工作簿"),
        (b"", "项目.xlsx", "不是有效的 Excel 工作簿"),
    ],
)
def test_a_wrong_file_gets_a_clear_chinese_error(world, login, content, name, words):
    client = login(world.staff)
    response = upload(client, content, name)
    assert response.status_code == 422
    assert words in page(response).text
    assert counts() == (0, 0)


def test_no_file_asks_for_one(world, login):
    response = login(world.staff).post(
        "/projects/import", data={}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "请选择要上传的 Excel 文件" in page(response).text


@pytest.mark.parametrize("role", ["reviewer", "city", "manager", "expert", "admin"])
def test_only_district_staff_import(world, login, role):
    client = login(getattr(world, role))
    assert client.get("/projects/import").status_code == 403
    response = upload(client, b"x")
    assert response.status_code == 403
    assert "只有区县填报员可以导入项目" in page(response).text
    assert counts() == (0, 0)
