"""The dossier job keeps a dossier's label and its content in step; the safety net finds
documents whose job was lost."""

from decimal import Decimal

from rq import SimpleWorker

from tests.factories import act
from workflow import operations, queue
from workflow.extensions import db
from workflow.jobs import recover_stuck_documents, render_dossier
from workflow.models import Dossier


def test_a_dossier_whose_data_moved_on_while_queued_is_not_rendered(
    world, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier, queued = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    assert queued
    operations.update_declaration(
        decl,
        {"requested_amount": Decimal("250.00")},
        actor=world.staff,
        expected_version=decl.version,
    )
    db.session.commit()

    assert render_dossier(dossier.id) == ""
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "failed" and dossier.file_name is None
    assert f"现为申报第 {decl.version} 版" in dossier.error


def test_data_changed_during_the_render_fails_the_dossier(
    world, make_project, make_declaration, monkeypatch
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    import documents

    real_render = documents.render_dossier_pdf

    def render_while_a_reviewer_acts(data):
        pdf = real_render(data)
        act(db.session.get(type(decl), decl.id), "submit", world.staff)
        return pdf

    monkeypatch.setattr(documents, "render_dossier_pdf", render_while_a_reviewer_acts)
    assert render_dossier(dossier.id) == ""
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "failed" and "已更新" in dossier.error


def test_a_current_dossier_is_rendered_with_its_page_count(world, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    file_name = render_dossier(dossier.id)
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "ready" and dossier.file_name == file_name
    assert dossier.page_count >= 3 and dossier.size > 10_000


# --- the safety net: documents whose job was lost ----------------------------------------------


def asked_for(decl, actor) -> Dossier:
    """A dossier row queued by a request whose job never reached Redis (or was lost there)."""
    dossier, queued = operations.request_dossier(decl, actor=actor)
    db.session.commit()
    assert queued
    return dossier


def reread(dossier: Dossier) -> Dossier:
    db.session.expire_all()
    return db.session.get(Dossier, dossier.id)


def test_a_dossier_whose_job_was_lost_is_queued_again_and_made(
    app, world, make_project, make_declaration
):
    app.config["STUCK_JOB_GRACE"] = 0
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier = asked_for(decl, world.staff)

    assert recover_stuck_documents() == {"requeued": 1, "failed": 0}
    row = reread(dossier)
    assert (row.status, row.error) == ("queued", "后台任务意外中断,已自动重新排队(第 1 次)")
    assert queue.dossier_queue().job_ids == [row.job_id]
    assert recover_stuck_documents() == {"requeued": 0, "failed": 0}  # its job is alive now
    # Nothing to do still ends the read: an idle transaction would block others' DDL and TRUNCATE.
    assert not db.session().in_transaction()

    queue.run_pending_jobs()
    row = reread(dossier)
    assert (row.status, row.error) == ("ready", None)


def test_a_document_lost_again_and_again_is_failed_with_the_reason(
    app, world, make_project, make_declaration
):
    app.config.update(STUCK_JOB_GRACE=0, STUCK_JOB_REQUEUES=2)
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier = asked_for(decl, world.staff)
    for _ in range(2):
        assert recover_stuck_documents()["requeued"] == 1
        queue.dossier_queue().empty()  # lost once more, job and all

    assert recover_stuck_documents() == {"requeued": 0, "failed": 1}
    row = reread(dossier)
    assert row.status == "failed"
    assert row.error == "生成申报材料的后台任务多次意外中断,已停止自动重试;请稍后重新生成"


def test_a_running_document_whose_job_failed_for_good_is_marked_failed(
    app, world, make_project, make_declaration
):
    app.config["STUCK_JOB_GRACE"] = 0
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier = asked_for(decl, world.staff)
    # The job failed, but its failure was never written on the row (the database was away).
    job = queue.dossier_queue().enqueue(
        "workflow.no_such_module.render", dossier.id, job_id=dossier.job_id
    )
    SimpleWorker([queue.dossier_queue()], connection=queue.connection()).work(
        burst=True, logging_level="CRITICAL"
    )
    assert job.get_status() == "failed"
    dossier.status = "running"
    db.session.commit()

    assert recover_stuck_documents() == {"requeued": 0, "failed": 1}
    row = reread(dossier)
    assert row.status == "failed"
    assert row.error.startswith("生成申报材料失败,后台任务已停止重试:")
    assert "ValueError" in row.error  # the last line of what RQ recorded


def test_a_document_is_left_alone_until_it_has_looked_stuck_for_the_grace_period(
    app, world, make_project, make_declaration
):
    app.config["STUCK_JOB_GRACE"] = 300
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier = asked_for(decl, world.staff)
    # Between a request's commit and its enqueue the row has no job yet: not a stuck one.
    assert recover_stuck_documents() == {"requeued": 0, "failed": 0}
    assert recover_stuck_documents() == {"requeued": 0, "failed": 0}
    row = reread(dossier)
    assert (row.status, row.error) == ("queued", None)


def test_a_document_whose_job_is_queued_or_waiting_to_retry_is_left_alone(
    app, world, make_project, make_declaration, monkeypatch
):
    app.config["STUCK_JOB_GRACE"] = 0
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier = asked_for(decl, world.staff)
    queue.enqueue_dossier(dossier.id, dossier.job_id)
    assert recover_stuck_documents() == {"requeued": 0, "failed": 0}

    import documents

    def broken(data):
        raise RuntimeError("字体文件暂时不可读")

    monkeypatch.setattr(documents, "render_dossier_pdf", broken)
    SimpleWorker([queue.dossier_queue()], connection=queue.connection()).work(
        burst=True, logging_level="CRITICAL"
    )
    row = reread(dossier)
    assert row.status == "queued" and row.error.startswith("第 1 次生成失败,正在重试")
    assert recover_stuck_documents() == {"requeued": 0, "failed": 0}
    assert reread(dossier).error == row.error
