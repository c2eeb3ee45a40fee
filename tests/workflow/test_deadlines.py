"""Deadlines and time: stage due dates in working days, reminders, escalation, closing drafts."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import redis
from rq import Queue
from rq.cron import CronJob, CronScheduler
from sqlalchemy import func, select

from tests import factories
from tests.conftest import REDIS_URL
from tests.workflow.conftest import audit_rows
from workflow import create_app, deadlines, jobs, machine, operations, reminders
from workflow.extensions import db
from workflow.models import Declaration, Delegation, ExpertAssignment, ExpertScore, Notification

ROOT = Path(__file__).resolve().parent.parent.parent
BEIJING = ZoneInfo("Asia/Shanghai")

# Wednesday 2026-09-30, 10:00 in Beijing: the last working day before National Day.
BEFORE_NATIONAL_DAY = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
# Thursday 2026-02-12, 10:00 in Beijing: two working days before Spring Festival (02-15..02-23).
BEFORE_SPRING_FESTIVAL = datetime(2026, 2, 12, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """``clock(moment)`` sets the time the engine stamps on a stage change (UTC, aware)."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(machine, "utcnow", lambda: moment)

    return set_to


def submitted(cast, **kwargs) -> Declaration:
    """A declaration of 盐都区 submitted now (by the clock): in 待区县初审."""
    return cast.act(cast.declaration(**kwargs), "submit", "district_staff")


def messages(kind: str | None = None) -> list[Notification]:
    """Every message sent, oldest first (one kind when given)."""
    query = select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def receivers(kind: str) -> list[int]:
    """The user ids that got a message of this kind, sorted."""
    return sorted(m.user_id for m in messages(kind))


def counted_working_days(start: date, end: date) -> int:
    """Working days after start up to end, straight from chinese_calendar (not our module)."""
    return len(chinese_calendar.get_workdays(start + timedelta(days=1), end))


# --- the due date the engine sets --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entered", "due"),
    [
        # 10-01..10-07 are off; 10-10 is a make-up Saturday (调休): 10-08, 09, 10, 12, 13.
        (BEFORE_NATIONAL_DAY, date(2026, 10, 13)),
        # 01:00 in Beijing is still 09-29 in UTC: the bureau's calendar day counts.
        (datetime(2026, 9, 29, 17, 0, tzinfo=UTC), date(2026, 10, 13)),
        # 02-13 (Friday), 02-14 (调休 Saturday), then after the festival 02-24, 25, 26.
        (BEFORE_SPRING_FESTIVAL, date(2026, 2, 26)),
    ],
)
def test_entering_district_review_gives_five_working_days(cast, clock, entered, due):
    clock(entered)
    decl = submitted(cast)
    assert decl.stage_due_on == due
    assert decl.stage_entered_at == entered
    local_day = entered.astimezone(BEIJING).date()
    assert counted_working_days(local_day, due) == 5
    assert chinese_calendar.is_workday(due)
    assert audit_rows(decl.id)[-1].after["due_on"] == due.isoformat()


def test_city_review_counts_ten_working_days_across_spring_festival(cast, clock):
    clock(BEFORE_SPRING_FESTIVAL)
    decl = submitted(cast)
    clock(BEFORE_SPRING_FESTIVAL + timedelta(days=1))  # Friday 02-13
    cast.act(decl, "approve", "district_reviewer")
    # 02-14 and 02-28 are make-up Saturdays: 02-14, 24, 25, 26, 27, 28, 03-02, 03, 04, 05.
    assert decl.stage_due_on == date(2026, 3, 5)
    assert counted_working_days(date(2026, 2, 13), date(2026, 3, 5)) == 10


def test_a_stage_without_a_time_limit_clears_the_due_date(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)
    cast.act(decl, "return_for_revision", "district_reviewer")
    assert decl.stage == "returned" and decl.stage_due_on is None
    assert deadlines.reminder_day(decl) is None


def test_the_reminder_day_counts_working_days_back_from_the_due_date(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)
    # remind_before 2 from Tuesday 10-13: Monday 10-12, then the make-up Saturday 10-10.
    assert deadlines.reminder_day(decl) == date(2026, 10, 10)
    assert deadlines.working_days_left(decl, date(2026, 10, 9)) == 3
    assert deadlines.working_days_left(decl, date(2026, 10, 14)) == -1


# --- reminders ---------------------------------------------------------------------------------


def test_reminders_start_on_the_reminder_day_and_arrive_once(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)
    world = cast.world
    assert deadlines.send_stage_reminders(date(2026, 10, 9)) == 0
    assert deadlines.send_stage_reminders(date(2026, 10, 10)) == 1
    assert deadlines.send_stage_reminders(date(2026, 10, 10)) == 0
    assert deadlines.send_stage_reminders(date(2026, 10, 13)) == 0
    db.session.commit()
    [message] = messages("stage_due")
    assert message.user_id == world.reviewer.id  # not 亭湖区's reviewer, not the city
    assert message.link == f"/declarations/{decl.id}"
    assert decl.project.name in message.title
    assert "2026-10-13" in message.body and "还剩 2 个工作日" in message.body


def test_no_reminder_before_the_reminder_day_or_after_the_due_date(cast, clock):
    clock(BEFORE_SPRING_FESTIVAL)
    submitted(cast)  # due 02-26, reminded from 02-24
    assert deadlines.send_stage_reminders(date(2026, 2, 23)) == 0  # last day of the festival
    assert deadlines.send_stage_reminders(date(2026, 2, 27)) == 0  # past due: escalation's turn
    assert deadlines.send_stage_reminders(date(2026, 2, 26)) == 1
    [message] = messages("stage_due")
    assert "今天(2026-02-26)到期" in message.body


def test_a_declaration_back_in_the_stage_is_reminded_again(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)
    assert deadlines.send_stage_reminders(date(2026, 10, 10)) == 1
    db.session.commit()
    clock(datetime(2026, 10, 10, 3, 0, tzinfo=UTC))
    cast.act(decl, "return_for_revision", "district_reviewer")
    clock(datetime(2026, 10, 12, 3, 0, tzinfo=UTC))
    cast.act(decl, "resubmit", "district_staff")
    assert decl.stage_due_on == date(2026, 10, 19)
    assert deadlines.send_stage_reminders(date(2026, 10, 16)) == 1
    assert len(messages("stage_due")) == 2


def test_city_review_reminds_every_city_reviewer_and_nobody_else(cast, clock):
    second_city = factories.user("city_reviewer")
    factories.user("city_reviewer", active=False)
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)
    cast.act(decl, "approve", "district_reviewer")
    reminder = deadlines.reminder_day(decl)
    assert deadlines.send_stage_reminders(reminder - timedelta(days=1)) == 0
    assert deadlines.send_stage_reminders(reminder) == 2
    assert receivers("stage_due") == sorted([cast.world.city.id, second_city.id])


def test_drafts_have_no_due_date_and_get_no_stage_reminder(cast):
    cast.declaration()
    assert deadlines.send_stage_reminders(date(2026, 10, 10)) == 0
    assert deadlines.escalate_overdue(date(2030, 1, 1)) == 0


def test_expert_review_also_reminds_the_experts_who_have_not_scored(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = cast.declaration(program=cast.expert_program)
    for trigger, role in (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
    ):
        cast.act(decl, trigger, role)
    assert decl.stage == "expert_review"
    waiting, done = factories.user("expert"), factories.user("expert")
    scored = ExpertAssignment(declaration=decl, expert=done)
    scored.score = ExpertScore(scores={"compliance": 80}, total=80)
    db.session.add_all([ExpertAssignment(declaration=decl, expert=waiting), scored])
    db.session.commit()
    assert deadlines.send_stage_reminders(decl.stage_due_on) == 2
    assert receivers("stage_due") == sorted([cast.world.city.id, waiting.id])


@pytest.fixture
def signoff(cast, clock):
    """A 联合会签 declaration (2 of the city reviewers and managers) with one city signature."""
    program = factories.program(workflow_name="joint_signoff")
    clock(BEFORE_NATIONAL_DAY)
    decl = cast.declaration(program=program)
    for trigger, role in (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
        ("approve", "city_reviewer"),  # the first signature
    ):
        cast.act(decl, trigger, role)
    assert decl.stage == "joint_signoff" and decl.stage_due_on is not None
    return decl


def test_a_countersign_stage_reminds_only_who_has_not_signed(cast, signoff):
    other_manager = factories.user("manager")
    assert deadlines.send_stage_reminders(signoff.stage_due_on) == 2
    assert receivers("stage_due") == sorted([cast.world.manager.id, other_manager.id])


def test_a_delegate_who_signed_is_reminded_of_the_seat_they_stand_in_for(cast, signoff):
    away = factories.user("city_reviewer")
    db.session.add(
        Delegation(
            delegator=away,
            delegate=cast.world.city,  # signed in their own seat already
            starts_on=signoff.stage_due_on - timedelta(days=10),
            ends_on=signoff.stage_due_on,
            reason="出差",
        )
    )
    db.session.commit()
    deadlines.send_stage_reminders(signoff.stage_due_on)
    assert receivers("stage_due") == sorted([cast.world.manager.id, away.id, cast.world.city.id])


def test_the_daily_reminders_include_the_stage_deadlines():
    assert deadlines.send_stage_reminders in reminders.DAILY_REMINDERS
    assert deadlines.escalate_overdue in reminders.DAILY_REMINDERS


# --- escalation --------------------------------------------------------------------------------


def test_escalation_comes_after_the_due_date_and_once(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)  # due 10-13
    world = cast.world
    assert deadlines.escalate_overdue(date(2026, 10, 13)) == 0
    assert deadlines.escalate_overdue(date(2026, 10, 14)) == 2
    assert deadlines.escalate_overdue(date(2026, 10, 15)) == 0
    db.session.commit()
    by_user = {m.user_id: m for m in messages("stage_overdue")}
    assert set(by_user) == {world.city.id, world.reviewer.id}  # escalate_to, and who acts
    assert "督办" in by_user[world.city.id].title and "请督促办理" in by_user[world.city.id].body
    assert "请尽快处理" in by_user[world.reviewer.id].body
    assert "已逾期 1 个工作日" in by_user[world.reviewer.id].body
    assert all(m.link == f"/declarations/{decl.id}" for m in by_user.values())


def test_overdue_over_a_holiday_is_still_overdue(cast, clock):
    clock(datetime(2026, 9, 22, 2, 0, tzinfo=UTC))  # Tuesday; 09-25 is Mid-autumn Festival
    decl = submitted(cast)
    assert decl.stage_due_on == date(2026, 9, 30)  # the last working day before National Day
    assert deadlines.escalate_overdue(date(2026, 10, 2)) == 2  # no working day since, but late
    assert all("已逾期" in m.body for m in messages("stage_overdue"))


def test_a_manager_who_supervises_and_signs_is_told_once(cast, signoff):
    late = signoff.stage_due_on + timedelta(days=1)
    assert deadlines.escalate_overdue(late) == 1  # the one pending seat, also escalate_to
    [message] = messages("stage_overdue")
    assert message.user_id == cast.world.manager.id and "请尽快处理" in message.body


def test_a_new_stage_entry_is_escalated_afresh(cast, clock):
    clock(BEFORE_NATIONAL_DAY)
    decl = submitted(cast)
    assert deadlines.escalate_overdue(date(2026, 10, 14)) == 2
    db.session.commit()
    clock(datetime(2026, 10, 14, 3, 0, tzinfo=UTC))
    cast.act(decl, "approve", "district_reviewer")
    # city_review: 10 working days from 10-14, escalated to the managers after that.
    assert deadlines.escalate_overdue(decl.stage_due_on) == 0
    assert deadlines.escalate_overdue(decl.stage_due_on + timedelta(days=1)) == 2
    assert cast.world.manager.id in receivers("stage_overdue")


# --- closing drafts after the window -----------------------------------------------------------


def expiry_rows(decl_id: int):
    return [row for row in audit_rows(decl_id) if row.action == "expire"]


def test_drafts_are_closed_the_day_after_the_district_deadline(cast):
    world = cast.world
    draft = cast.declaration()
    returned = cast.drive_to(cast.declaration(), "returned")
    submitted = cast.drive_to(cast.declaration(), "district_review")
    deadline = world.program.district_deadline
    audits_before = len(audit_rows(draft.id))

    assert deadlines.close_expired_drafts(deadline) == 0
    assert deadlines.close_expired_drafts(deadline + timedelta(days=1)) == 1
    db.session.expire_all()
    assert db.session.get(Declaration, draft.id).stage == "expired"
    assert db.session.get(Declaration, returned.id).stage == "returned"
    assert db.session.get(Declaration, submitted.id).stage == "district_review"

    rows = audit_rows(draft.id)
    assert len(rows) == audits_before + 1
    [row] = expiry_rows(draft.id)
    assert row.actor_id is None and row.after["stage"] == "expired"
    assert row.comment == (
        f"申报批次「{world.program.title}」已于 {deadline.isoformat()} 截止,"
        "草稿逾期未提交,系统自动关闭"
    )
    [message] = messages("stage_overdue")
    assert message.user_id == world.staff.id  # 盐都区's staff, not 亭湖区's
    assert message.link == f"/declarations/{draft.id}" and "逾期关闭" in message.title

    assert deadlines.close_expired_drafts(deadline + timedelta(days=2)) == 0
    assert len(expiry_rows(draft.id)) == 1 and len(messages("stage_overdue")) == 1


def test_drafts_of_a_closed_program_are_closed_before_its_deadline(cast):
    program = factories.program(title="提前截止的批次")
    draft = cast.declaration(program=program)
    program.status = "closed"
    db.session.commit()
    assert deadlines.close_expired_drafts(operations.local_today()) == 1
    [row] = expiry_rows(draft.id)
    assert "「提前截止的批次」已截止,不再接受提交" in row.comment


def test_one_failing_draft_does_not_keep_the_others_open(cast, monkeypatch, caplog):
    first, second = cast.declaration(), cast.declaration()
    real = operations.expire_declaration

    def expire(decl, *, cause):
        if decl.id == first.id:
            raise RuntimeError("磁盘已满")
        return real(decl, cause=cause)

    monkeypatch.setattr(operations, "expire_declaration", expire)
    with caplog.at_level(logging.ERROR, logger="workflow.deadlines"):
        closed = deadlines.close_expired_drafts(cast.world.program.district_deadline + timedelta(1))
    assert closed == 1
    db.session.expire_all()
    assert db.session.get(Declaration, first.id).stage == "draft"
    assert db.session.get(Declaration, second.id).stage == "expired"
    assert expiry_rows(first.id) == [] and len(expiry_rows(second.id)) == 1
    assert f"declaration {first.id} failed" in caplog.text


# --- the jobs and the scheduler ----------------------------------------------------------------


def run_in_a_thread(target, *args):
    """Run target in a thread of its own, where no app context exists, and return its result."""
    out: dict = {}

    def run():
        try:
            out["value"] = target(*args)
        except BaseException as exc:  # handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_the_jobs_run_inside_an_app_context_of_their_own(cast, app_config, monkeypatch, clock):
    import workflow

    made = []

    def app_for_job():
        made.append(create_app(app_config))
        return made[-1]

    monkeypatch.setattr(workflow, "create_app", app_for_job)
    draft = cast.declaration()
    clock(BEFORE_NATIONAL_DAY)
    submitted(cast)
    the_day_after = (cast.world.program.district_deadline + timedelta(days=1)).isoformat()

    assert run_in_a_thread(jobs.close_expired_drafts, the_day_after) == 1
    assert run_in_a_thread(jobs.send_daily_reminders, "2026-10-14") == 2  # the escalation
    assert len(made) == 2  # each job built its own app: no context was lent to it
    for job_app in made:
        with job_app.app_context():
            db.engine.dispose()
    db.session.expire_all()
    assert db.session.get(Declaration, draft.id).stage == "expired"
    assert len(messages("stage_overdue")) == 3


def test_the_reminder_job_fails_when_a_reminder_fails(app, monkeypatch):
    def broken(today):
        raise RuntimeError("boom")

    monkeypatch.setattr(reminders, "DAILY_REMINDERS", [broken])
    with pytest.raises(RuntimeError, match="broken"):
        jobs.send_daily_reminders("2026-10-14")


@pytest.fixture
def new_york_server():
    """The process runs in New York time, as a server configured far from Beijing might."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_the_scheduler_runs_the_jobs_at_beijing_time_whatever_the_server_zone(
    app, monkeypatch, new_york_server
):
    moment = datetime(2026, 9, 29, 20, 0, tzinfo=UTC)  # 04:00 on 09-30 in Beijing
    monkeypatch.setattr(jobs, "rq_now", lambda: moment)
    scheduler = jobs.build_scheduler(app)
    by_name = {job.name: job for job in scheduler.get_jobs()}
    assert set(by_name) == {
        "close_expired_drafts",
        "daily_reminders",
        "recover_stuck_documents",
        "prune_dossier_cache",
    }
    close, remind = by_name["close_expired_drafts"], by_name["daily_reminders"]
    assert close.func is jobs.close_expired_drafts and close.cron == "30 0 * * *"
    assert remind.func is jobs.send_daily_reminders and remind.cron == "30 8 * * *"
    assert {job.queue_name for job in by_name.values()} == {app.config["DOSSIER_QUEUE"]}
    assert close.next_enqueue_time == datetime(2026, 9, 30, 16, 30, tzinfo=UTC)  # 10-01 00:30
    assert remind.next_enqueue_time == datetime(2026, 9, 30, 0, 30, tzinfo=UTC)  # 09-30 08:30
    remind.set_enqueue_time(remind.next_enqueue_time)
    assert remind.next_enqueue_time == datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    # RQ on its own reads cron fields in the server's zone: 08:30 in New York is 20:30 in Beijing.
    plain = CronJob(queue_name="q", func=jobs.send_daily_reminders, cron="30 8 * * *")
    assert plain.get_next_enqueue_time().astimezone(UTC).minute == 30
    assert plain.get_next_enqueue_time().astimezone(UTC).hour in (12, 13)


def test_the_scheduler_command_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["scheduler"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output


def test_the_close_drafts_command_closes_them_now(cast, app):
    draft = cast.declaration()
    day = (cast.world.program.district_deadline + timedelta(days=1)).isoformat()
    result = app.test_cli_runner().invoke(args=["deadlines", "close-drafts", "--date", day])
    assert result.exit_code == 0, result.output
    assert f"{day} 自动关闭逾期草稿 1 件" in result.output
    db.session.expire_all()
    assert db.session.get(Declaration, draft.id).stage == "expired"


def test_the_embedded_mode_runs_the_schedule_in_a_thread(app_config, tmp_path):
    # The threads cannot be stopped and outlive the test: give them a database of their own, so
    # a scheduled run later in the session never touches the database other tests share.
    embedded = create_app(
        {
            **app_config,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
            "START_EMBEDDED_WORKER": True,
            "EMBEDDED_WORKER": True,
        }
    )
    state = embedded.extensions["rq"]
    assert state["scheduler_thread"].is_alive() and state["thread"].is_alive()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = CronScheduler.all(state["connection"])
        if found:
            break
        time.sleep(0.1)
    [scheduler] = found
    assert sorted((j.name, j.cron) for j in scheduler.get_jobs()) == [
        ("close_expired_drafts", "30 0 * * *"),
        ("daily_reminders", "30 8 * * *"),
        ("prune_dossier_cache", "0 3 * * *"),
        ("recover_stuck_documents", "*/5 * * * *"),
    ]
    with embedded.app_context():
        db.engine.dispose()


# --- against real Redis ------------------------------------------------------------------------


@pytest.fixture
def redis_config(app_config):
    """The app talks to the real Redis server, on a queue of its own."""
    app_config["REDIS_URL"] = REDIS_URL
    app_config["DOSSIER_QUEUE"] = f"scheduled-test-{uuid.uuid4().hex[:10]}"
    return app_config


def process_env(config: dict) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": config["REDIS_URL"],
        "DATA_DIR": config["DATA_DIR"],
        "DOSSIER_QUEUE": config["DOSSIER_QUEUE"],
    }


@pytest.mark.worker
def test_the_scheduler_process_registers_the_two_cron_jobs(redis_config):
    connection = redis.Redis.from_url(REDIS_URL)
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
        cwd=ROOT,
        env=process_env(redis_config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ours = []
        deadline = time.monotonic() + 60
        while not ours and time.monotonic() < deadline and process.poll() is None:
            ours = [s for s in CronScheduler.all(connection) if s.pid == process.pid]
            time.sleep(0.2)
        assert ours, process.stderr.read() if process.poll() is not None else "not registered"
        jobs_seen = {j.name: j for j in ours[0].get_jobs()}
        assert {name: j.cron for name, j in jobs_seen.items()} == {
            "close_expired_drafts": "30 0 * * *",
            "daily_reminders": "30 8 * * *",
            "recover_stuck_documents": "*/5 * * * *",
            "prune_dossier_cache": "0 3 * * *",
        }
        assert {j.queue_name for j in jobs_seen.values()} == {redis_config["DOSSIER_QUEUE"]}
        assert jobs_seen["close_expired_drafts"].func_name == "workflow.jobs.close_expired_drafts"
        # 00:30 in Beijing is 16:30 UTC.
        upcoming = jobs_seen["close_expired_drafts"].next_enqueue_time
        assert (upcoming.hour, upcoming.minute) == (16, 30)
    finally:
        process.send_signal(signal.SIGTERM)
        output, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "close_expired_drafts: 30 0 * * *(Asia/Shanghai)" in output
    assert not [s for s in CronScheduler.all(connection) if s.pid == process.pid]
    connection.close()


@pytest.fixture
def redis_app(redis_config, app):
    """The test's app, built after ``redis_config`` pointed it at the real Redis server."""
    assert not app.extensions["rq"]["embedded"]
    return app


@pytest.mark.worker
def test_a_scheduled_close_runs_on_a_real_worker(redis_config, redis_app, cast):
    draft = cast.declaration()
    cast.world.program.district_deadline = operations.local_today() - timedelta(days=1)
    db.session.commit()

    scheduler = jobs.build_scheduler(redis_app)
    [close] = [j for j in scheduler.get_jobs() if j.name == "close_expired_drafts"]
    close.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)  # due now
    assert [j.name for j in scheduler.enqueue_jobs()] == ["close_expired_drafts"]
    queue = Queue(redis_config["DOSSIER_QUEUE"], connection=scheduler.connection)
    assert queue.count == 1

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"],
        cwd=ROOT,
        env=process_env(redis_config),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    db.session.expire_all()
    assert db.session.get(Declaration, draft.id).stage == "expired"
    assert len(expiry_rows(draft.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
