"""Batch dossier pages: the program's panel, progress, download, outdated marks; 材料核验."""

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from tests import factories
from tests.views.html import facts, page
from tests.workflow.test_batch import declare, record_approval
from workflow import operations, queue
from workflow.extensions import db
from workflow.models import BatchDossier, Dossier
from workflow.types import utcnow


@pytest.fixture
def recommended(world):
    return [
        declare(world, world.yandu, "recommended", name="盐都区城市数据大脑"),
        declare(world, world.tinghu, "recommended", name="亭湖区智慧农业平台"),
    ]


def program_page(client, world):
    return page(client.get(f"/programs/{world.program.id}"))


def request_batch(client, world):
    response = client.post(f"/programs/{world.program.id}/batches")
    assert response.status_code == 302
    return response.headers["Location"]


def test_a_manager_builds_a_batch_follows_its_progress_and_downloads_it(world, login, recommended):
    client = login(world.manager)
    panel = program_page(client, world).by_id("batches")
    assert "本批次推荐上报的 2 个项目(含已推荐上报、已获批、未获批)" in panel.text
    assert panel.find("table") is None  # nothing made yet

    location = request_batch(client, world)
    batch = db.session.scalar(select(BatchDossier))
    assert location == f"/batches/{batch.id}"
    shown = page(client.get(location))
    assert shown.h1 == f"批量申报材料 #{batch.id}"
    assert shown.by_id("batch-status").text == "排队中"
    progress = shown.by_id("batch-progress")
    # Two sections to render, two to merge, then the manifest, the numbers, the file: seven steps.
    assert (progress.attrs["value"], progress.attrs["max"]) == ("0", "7")
    assert shown.by_id("batch-progress-text").text == "排队等待后台处理"
    assert "hidden" in shown.by_id("batch-download").attrs
    status = client.get(f"{location}/status").get_json()
    assert (status["status"], status["progress_done"], status["progress_total"]) == ("queued", 0, 7)
    assert status["download_url"] is None
    assert client.get(f"{location}/download").status_code == 404

    assert queue.run_pending_jobs()

    status = client.get(f"{location}/status").get_json()
    assert status["status"] == "ready" and status["status_label"] == "已生成"
    assert (status["progress_done"], status["progress_total"], status["percent"]) == (7, 7, 100)
    assert status["progress_text"] == "共 2 个项目" and status["attempts"] == 1
    assert status["current"] is True and status["sections_rendered"] == 2
    shown = page(client.get(location))
    assert "hidden" not in shown.by_id("batch-download").attrs
    assert facts(shown)["本次排版"] == "重新排版 2 个项目,其余 0 个取自缓存"
    with client.get(status["download_url"]) as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
        reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == status["page_count"]
    assert "亭湖区智慧农业平台" in reader.pages[2].extract_text()  # the 汇总表

    rows = program_page(client, world).rows("batch-list")
    assert len(rows) == 1 and "已生成" in rows[0] and "下载" in rows[0]
    assert "已过期" not in rows[0]


def test_progress_follows_the_sections_rendered_then_merged(world, login, recommended):
    client = login(world.city)
    location = request_batch(client, world)
    batch = db.session.scalar(select(BatchDossier))
    batch.status, batch.progress_done, batch.attempts = "running", 1, 1
    db.session.commit()
    status = client.get(f"{location}/status").get_json()
    assert (status["status_label"], status["percent"]) == ("生成中", 14)
    assert (status["progress_text"], status["attempts"]) == ("排版 1 / 2 个项目", 1)
    shown = page(client.get(location))
    assert shown.by_id("batch-progress").attrs["value"] == "1"
    assert shown.by_id("batch-progress-text").text == "排版 1 / 2 个项目"
    assert shown.by_id("batch-attempts").text == "1"  # the run under way counts
    row = program_page(client, world).by_id("batch-list").find("progress")
    assert (row.attrs["value"], row.attrs["max"]) == ("1", "7")

    # Every section rendered: merging them with their attachments is what takes the time now.
    for done, label, text in (
        (2, "生成中", "排版 2 / 2 个项目"),
        (3, "合并与编页中", "合并第 1 / 2 个项目的材料和附件"),
        (4, "合并与编页中", "生成材料清单"),
        (5, "合并与编页中", "编页码"),
        (6, "合并与编页中", "合并字体并写入文件"),
    ):
        batch.progress_done = done
        db.session.commit()
        status = client.get(f"{location}/status").get_json()
        assert (status["status_label"], status["progress_text"]) == (label, text)
        assert status["percent"] == done * 100 // 7

    # A run that failed and waits to be tried again says so, not where the failed run stopped.
    batch.status, batch.error = "queued", "第 1 次生成失败,正在重试:…"
    db.session.commit()
    status = client.get(f"{location}/status").get_json()
    assert (status["status_label"], status["progress_text"]) == ("排队中", "排队等待后台处理")


def test_a_job_silent_for_a_minute_says_its_worker_may_be_gone(world, login, recommended):
    client = login(world.manager)
    location = request_batch(client, world)
    batch = db.session.scalar(select(BatchDossier))
    batch.status, batch.progress_at = "running", utcnow() - timedelta(seconds=30)  # a slow step
    db.session.commit()
    assert client.get(f"{location}/status").get_json()["stalled"] is False
    assert "hidden" in page(client.get(location)).by_id("batch-stalled").attrs

    batch.progress_at = utcnow() - timedelta(seconds=90)
    db.session.commit()
    assert client.get(f"{location}/status").get_json()["stalled"] is True
    note = page(client.get(location)).by_id("batch-stalled")
    assert "hidden" not in note.attrs and "后台进程可能已停止" in note.text

    batch.status = "queued"  # RQ noticed and queued it again: no longer the page's worry
    db.session.commit()
    assert client.get(f"{location}/status").get_json()["stalled"] is False


def test_asking_again_while_it_runs_joins_the_same_job(world, login, recommended):
    first = request_batch(login(world.manager), world)
    client = login(world.city)
    second = request_batch(client, world)
    assert first == second
    assert "已为您接入该任务,无需重复申请" in " ".join(page(client.get(second)).alerts())
    assert queue.dossier_queue().count == 1
    assert db.session.scalar(select(func.count()).select_from(BatchDossier)) == 1

    queue.run_pending_jobs()
    assert request_batch(client, world) == first
    assert "已生成的批量申报材料可直接下载" in " ".join(page(client.get(first)).alerts())


def test_after_a_declaration_changes_the_batch_is_marked_outdated(world, login, recommended):
    client = login(world.manager)
    old = request_batch(client, world)
    queue.run_pending_jobs()
    record_approval(world, recommended[0])

    rows = program_page(client, world).rows("batch-list")
    assert "数据已更新,已过期" in rows[0]
    shown = page(client.get(old))
    assert shown.by_id("batch-outdated").text == "数据已更新,已过期"
    assert "hidden" not in shown.by_id("batch-retry").attrs
    assert client.get(f"{old}/status").get_json()["current"] is False

    new = request_batch(client, world)
    assert new != old
    queue.run_pending_jobs()
    rows = program_page(client, world).rows("batch-list")
    assert "已过期" not in rows[0] and "数据已更新,已过期" in rows[1]  # newest first
    assert facts(page(client.get(new)))["本次排版"] == "重新排版 1 个项目,其余 1 个取自缓存"
    # The old one now points to the new one instead of offering to build it again.
    shown = page(client.get(old))
    assert shown.by_id("batch-latest").find("a").attrs["href"] == new
    assert "hidden" in shown.by_id("batch-retry").attrs
    assert page(client.get(new)).by_id("batch-latest") is None


def test_a_failed_build_shows_its_reason_and_a_retry(world, login, recommended, monkeypatch):
    from documents import batch as batch_pdf

    def broken(*args, **kwargs):
        raise RuntimeError("字体文件缺失")

    monkeypatch.setattr(batch_pdf, "assemble_batch", broken)
    client = login(world.manager)
    location = request_batch(client, world)
    queue.run_pending_jobs()
    shown = page(client.get(location))
    assert shown.by_id("batch-status").text == "生成失败"
    assert "字体文件缺失" in shown.by_id("batch-error").text
    assert "hidden" not in shown.by_id("batch-retry").attrs

    monkeypatch.undo()
    assert request_batch(client, world) == location  # the same data: the same batch, again
    queue.run_pending_jobs()
    assert client.get(f"{location}/status").get_json()["status"] == "ready"


@pytest.mark.parametrize("role", ["staff", "reviewer", "other_staff"])
def test_district_users_neither_see_nor_ask_for_batches(world, login, recommended, role):
    client = login(world.manager)
    location = request_batch(client, world)
    client = login(getattr(world, role))
    assert program_page(client, world).by_id("batches") is None
    for path in (location, f"{location}/status", f"{location}/download"):
        assert client.get(path).status_code == 403
    response = client.post(f"/programs/{world.program.id}/batches")
    assert response.status_code == 403
    assert "只有市级审核员、管理人员和系统管理员" in page(response).text
    assert db.session.scalar(select(func.count()).select_from(BatchDossier)) == 1


def test_experts_do_not_learn_batches_exist(world, login, recommended):
    location = request_batch(login(world.manager), world)
    client = login(world.expert)
    assert program_page(client, world).by_id("batches") is None
    assert client.get(location).status_code == 404
    assert client.get("/dossiers/verify").status_code == 404


def test_a_program_without_recommendations_says_so(world, login):
    client = login(world.city)
    panel = program_page(client, world).by_id("batches")
    assert "disabled" in panel.find("button").attrs
    response = client.post(f"/programs/{world.program.id}/batches", follow_redirects=True)
    assert "还没有已推荐上报的申报" in " ".join(page(response).alerts())


# --- 材料核验 -----------------------------------------------------------------------------------


def upload(client, content: bytes, name="材料.pdf"):
    return client.post(
        "/dossiers/verify",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def made_dossier(world, name="盐都区城市数据大脑"):
    decl = factories.declaration(
        factories.project(world.yandu, name=name), world.program, by=world.staff
    )
    return made_dossier_of(world, decl)


def made_dossier_of(world, decl):
    dossier, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    queue.enqueue_dossier(dossier.id, dossier.job_id)
    queue.run_pending_jobs()
    db.session.expire_all()
    return db.session.get(Dossier, dossier.id)


def test_verifying_a_dossier_current_then_outdated(world, login):
    from workflow.storage import dossier_path

    dossier = made_dossier(world)
    content = dossier_path(dossier.file_name).read_bytes()
    client = login(world.staff)
    shown = page(client.get("/dossiers/verify"))
    assert shown.h1 == "材料核验" and shown.by_id("verdict") is None

    shown = page(upload(client, content))
    assert shown.by_id("verdict-status").text == "最新版本"
    assert "盐都区城市数据大脑" in shown.by_id("verdict-explanation").text
    assert f"/dossiers/{dossier.id}" in shown.by_id("verdict-record").find("a").attrs["href"]

    operations.add_attachment(
        dossier.declaration,
        kind="other",
        filename="补充.pdf",
        content=factories.pdf_bytes(),
        actor=world.staff,
    )
    db.session.commit()
    shown = page(upload(client, content))
    assert shown.by_id("verdict-status").text == "已过期"
    assert "verdict-outdated" in shown.by_id("verdict-status").attrs["class"]
    assert "请在系统中按最新数据重新生成" in shown.by_id("verdict-explanation").text
    assert shown.by_id("verdict-latest") is None

    newer = made_dossier_of(world, dossier.declaration)
    shown = page(upload(client, content))
    link = shown.by_id("verdict-latest").find("a")
    assert link.attrs["href"] == f"/dossiers/{newer.id}" and f"#{newer.id}" in link.text

    other = page(upload(login(world.other_staff), content))
    assert other.by_id("verdict-status").text == "无法确认"
    assert "verdict-unknown" in other.by_id("verdict-status").attrs["class"]
    assert "或属于您无权查看的范围" in other.by_id("verdict-explanation").text
    assert other.by_id("verdict-record") is None
    assert "盐都区城市数据大脑" not in other.text


def test_verifying_by_sha256_and_what_the_form_refuses(world, login):
    from workflow.storage import dossier_path

    dossier = made_dossier(world)
    client = login(world.reviewer)
    response = client.post("/dossiers/verify", data={"sha256": dossier.sha256.upper()})
    assert page(response).by_id("verdict-status").text == "最新版本"

    response = client.post("/dossiers/verify", data={})
    assert response.status_code == 422
    assert page(response).field_errors("file") == ["请选择要核验的 PDF 文件,或填写文件的 SHA-256"]
    response = upload(client, b"PK\x03\x04 not a pdf", "材料.docx")
    assert response.status_code == 422 and page(response).field_errors("file") == [
        "只能核验 PDF 文件"
    ]
    response = client.post("/dossiers/verify", data={"sha256": "abc"})
    assert page(response).field_errors("sha256") == ["SHA-256 应为 64 位十六进制字符"]
    assert dossier_path(dossier.file_name).exists()


def test_outdated_dossiers_are_marked_on_the_declaration_page_and_in_the_inbox(world, login):
    dossier = made_dossier(world)
    operations.add_attachment(
        dossier.declaration,
        kind="other",
        filename="补充.pdf",
        content=factories.pdf_bytes(),
        actor=world.staff,
    )
    db.session.commit()
    client = login(world.staff)
    row = page(client.get(f"/declarations/{dossier.declaration_id}")).rows("dossier-list")[0]
    assert "数据已更新,已过期" in row
    inbox = page(client.get("/inbox")).text
    assert "盐都区城市数据大脑 已生成 数据已更新,已过期" in inbox
