"""One journey in Debian's Chromium, driven by Playwright: sign in, fill, submit, get the PDF."""

import threading
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from tests.factories import credit_code, pdf_bytes
from workflow.extensions import db
from workflow.models import Declaration, Project

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def app_config(app_config):
    """A real browser needs CSRF on and the embedded worker thread for the dossier."""
    app_config["WTF_CSRF_ENABLED"] = True
    app_config["EMBEDDED_WORKER"] = True
    return app_config


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page():
    """A fresh Chromium page."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", accept_downloads=True)
        yield context.new_page()
        context.close()
        browser.close()


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="待办")).to_be_visible()


def test_district_staff_fills_and_submits_a_declaration(live_server, page, world, tmp_path):
    from tests.factories import PASSWORD

    sign_in(page, live_server, world.staff.username, PASSWORD)

    page.get_by_role("link", name="新建项目").first.click()
    page.get_by_label("项目名称").fill("盐都区公共数据授权运营平台")
    page.get_by_label("项目代码").fill("2025-320903-65-01-765432")
    page.get_by_label("所属领域").select_option(label="数字政府")
    page.get_by_label("建设性质").select_option(label="新建")
    page.get_by_label("申报单位").fill("盐城市大数据集团有限公司")
    page.get_by_label("统一社会信用代码").fill(credit_code(42))
    page.get_by_label("建设地点").fill("盐都区数据产业园")
    page.get_by_label("拟开工年月").fill("2026-03")
    page.get_by_label("拟建成年月").fill("2027-12")
    page.get_by_label("总投资(万元)").fill("2,000")
    page.get_by_label("中央资金(万元)").fill("600")
    page.get_by_label("企业自筹(万元)").fill("1200")
    # A wrong sum is refused, with the typed values kept.
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("与总投资 2000.00 万元不一致")).to_be_visible()
    expect(page.get_by_label("项目名称")).to_have_value("盐都区公共数据授权运营平台")
    page.get_by_label("地方财政配套(万元)").fill("200")
    page.get_by_label("建设内容").fill("建设公共数据授权运营平台,汇聚高价值公共数据。")
    page.get_by_label("联系人").fill("王芳")
    page.get_by_label("联系电话(手机)").fill("13951234567")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("项目已保存")).to_be_visible()

    page.get_by_label("要件类型").select_option(label="可研批复")
    page.get_by_label("文号").fill("盐发改审〔2025〕18号")
    page.get_by_label("印发日期").fill("2025-06-01")
    page.get_by_label("有效期至").fill(date(2030, 12, 31).isoformat())
    page.get_by_role("button", name="添加要件").click()
    expect(page.get_by_text("前期要件已添加")).to_be_visible()

    page.get_by_role("button", name="申报到该批次").click()
    expect(page.get_by_text("申报草稿已创建")).to_be_visible()
    page.get_by_label("申请资金(万元)").fill("500")
    page.get_by_label("项目建设必要性").fill("落实数字盐城建设重点任务。")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("申报已保存为草稿")).to_be_visible()
    expect(page.locator("#completeness")).to_contain_text("缺少附件「申报书」")

    attachment = Path(tmp_path) / "申报书.pdf"
    attachment.write_bytes(pdf_bytes())
    page.get_by_label("附件类型").select_option(label="申报书")
    page.get_by_label("文件").set_input_files(str(attachment))
    page.get_by_role("button", name="上传").click()
    expect(page.get_by_text("附件已上传")).to_be_visible()
    expect(page.get_by_role("link", name="申报书.pdf")).to_be_visible()
    expect(page.locator("#completeness")).to_contain_text("材料已齐全")

    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.get_by_text("申报现为「待区县初审」")).to_be_visible()

    project = db.session.scalars(db.select(Project)).one()
    decl = db.session.scalars(db.select(Declaration)).one()
    assert project.name == "盐都区公共数据授权运营平台" and project.maturity == "declaring"
    assert decl.stage == "district_review"

    # The dossier: requested with one click, status live on the page, then downloaded.
    page.get_by_role("button", name="生成申报材料").click()
    expect(page.locator("#dossier-status")).to_have_text("已生成", timeout=60_000)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载 PDF").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert download_info.value.suggested_filename.startswith("申报材料-")
