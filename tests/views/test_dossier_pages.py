"""Dossier pages: request, live status, download, reuse per data version, expiry, failure."""

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

import documents
from tests.views.html import facts, page
from workflow import queue
from workflow.extensions import db
from workflow.models import Dossier


@pytest.fixture
def decl(world, make_project, make_declaration):
    project = make_project(world.yandu, name="盐都区城市数据大脑建设项目")
    return make_declaration(project, world.program, by=world.staff)


def request_dossier(client, decl):
    response = client.post(f"/declarations/{decl.id}/dossiers")
    assert response.status_code == 302
    return response.headers["Location"]


def test_request_render_and_download_a_dossier(world, login, decl):
    client = login(world.staff)
    location = request_dossier(client, decl)
    dossier = db.session.scalar(select(Dossier))
    assert location == f"/dossiers/{dossier.id}"

    shown = page(client.get(location))
    assert shown.h1 == f"申报材料 #{dossier.id}"
    assert shown.by_id("dossier-status").text == "排队中"
    assert shown.by_id("dossier").attrs["data-status"] == "queued"
    assert "hidden" in shown.by_id("dossier-download").attrs
    assert "本页会自动更新状态" in shown.by_id("dossier-wait").text
    status = client.get(f"{location}/status").get_json()
    assert status["status"] == "queued" and status["status_label"] == "排队中"
    assert status["download_url"] is None
    assert client.get(f"{location}/download").status_code == 404

    assert queue.run_pending_jobs()

    status = client.get(f"{location}/status").get_json()
    assert status["status"] == "ready" and status["status_label"] == "已生成"
    assert status["download_url"] == f"{location}/download"
    assert status["current"] is True and status["page_count"] >= 1

    shown = page(client.get(location))
    assert shown.by_id("dossier-status").text == "已生成"
    assert "hidden" not in shown.by_id("dossier-download").attrs
    assert "hidden" in shown.by_id("dossier-wait").attrs
    assert f"共 {status['page_count']} 页" in shown.by_id("dossier-download").text

    response = client.get(status["download_url"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    response.close()
    assert "盐都区城市数据大脑建设项目" in text.replace("\n", "")

    detail = page(client.get(f"/declarations/{decl.id}"))
    row = detail.rows("dossier-list")[0]
    assert "已生成" in row and "下载" in row and "已过期" not in row


def test_asking_twice_for_the_same_version_returns_the_same_dossier(world, login, decl):
    client = login(world.staff)
    first = request_dossier(client, decl)
    second = request_dossier(client, decl)
    assert first == second
    assert "该版本的申报材料正在生成,请稍候,无需重复申请" in page(client.get(second)).alerts()
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1
    # Another reader (the reviewer of the district) asking for it joins the same one as well.
    reviewer = login(world.reviewer)
    queue.run_pending_jobs()
    assert request_dossier(reviewer, decl) == first
    assert "该版本的申报材料已生成,可直接下载,无需重复申请" in page(reviewer.get(first)).alerts()
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1


def test_after_editing_the_declaration_the_old_dossier_is_marked_outdated(world, login, decl):
    client = login(world.staff)
    old = request_dossier(client, decl)
    version = decl.version
    queue.run_pending_jobs()
    response = client.post(
        f"/declarations/{decl.id}/edit",
        data={"requested_amount": "350", "f_necessity": "改过的必要性", "version": decl.version},
    )
    assert response.status_code == 302

    detail = page(client.get(f"/declarations/{decl.id}"))
    rows = detail.rows("dossier-list")
    assert len(rows) == 1 and "已过期" in rows[0]
    assert f"申报 v{version} / 项目 v" in rows[0]
    old_page = page(client.get(old))
    assert "数据已更新,本材料已过期" in facts(old_page)["数据版本"]
    assert client.get(f"{old}/status").get_json()["current"] is False

    new = request_dossier(client, decl)
    assert new != old
    rows = page(client.get(f"/declarations/{decl.id}")).rows("dossier-list")
    assert "已过期" not in rows[0] and "已过期" in rows[1]  # newest first


def test_a_failed_job_shows_a_readable_chinese_error_and_a_retry(world, login, decl, monkeypatch):
    def broken(data):
        raise RuntimeError("字体文件缺失")

    monkeypatch.setattr(documents, "render_dossier_pdf", broken)
    client = login(world.staff)
    location = request_dossier(client, decl)
    queue.run_pending_jobs()

    status = client.get(f"{location}/status").get_json()
    assert status["status"] == "failed" and status["status_label"] == "生成失败"
    assert status["download_url"] is None
    assert "生成申报材料时出错" in status["error"] and "字体文件缺失" in status["error"]

    shown = page(client.get(location))
    assert shown.by_id("dossier-status").text == "生成失败"
    error = shown.by_id("dossier-error")
    assert "hidden" not in error.attrs and "字体文件缺失" in error.text
    assert "hidden" not in shown.by_id("dossier-retry").attrs
    assert "hidden" in shown.by_id("dossier-spinner").attrs
    assert client.get(f"{location}/download").status_code == 404

    # Retrying after the cause is fixed makes the same dossier ready.
    monkeypatch.undo()
    assert request_dossier(client, decl) == location
    queue.run_pending_jobs()
    assert client.get(f"{location}/status").get_json()["status"] == "ready"
