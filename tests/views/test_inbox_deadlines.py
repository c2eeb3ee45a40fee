"""What users see of stage deadlines: due dates in 待办, overdue marks, the system's closing."""

from datetime import UTC, datetime, timedelta

from tests.factories import act
from tests.views.html import page
from workflow import deadlines, machine, operations
from workflow.extensions import db
from workflow.workdays import working_days_between


def task_row(client, name: str):
    """The 待办 row of the declaration whose project has this name."""
    table = page(client.get("/inbox")).by_id("tasks")
    return next(tr for tr in table.find("tbody").find_all("tr") if name in tr.text)


def test_an_overdue_stage_is_marked_in_the_reviewers_inbox(
    world, login, make_project, make_declaration, monkeypatch
):
    today = operations.local_today()
    entered = datetime.combine(today - timedelta(days=30), datetime.min.time(), UTC)
    monkeypatch.setattr(machine, "utcnow", lambda: entered + timedelta(hours=2))
    decl = make_declaration(
        make_project(world.yandu, name="逾期初审的项目"), world.program, by=world.staff
    )
    act(decl, "submit", world.staff)
    late = working_days_between(decl.stage_due_on, today)
    assert decl.stage_due_on < today and late > 0

    row = task_row(login(world.reviewer), "逾期初审的项目")
    assert "overdue" in row.classes
    assert decl.stage_due_on.isoformat() in row.text and "办理时限" in row.text
    assert row.text.endswith(f"已逾期 {late} 个工作日")


def test_a_program_deadline_stays_where_the_stage_has_no_time_limit(
    world, login, make_project, make_declaration
):
    decl = make_declaration(
        make_project(world.yandu, name="退回修改的项目"), world.program, by=world.staff
    )
    act(decl, "submit", world.staff)
    act(decl, "return_for_revision", world.reviewer, "请补充绩效目标")
    row = task_row(login(world.staff), "退回修改的项目")
    assert world.program.district_deadline.isoformat() in row.text
    assert "办理时限" not in row.text and row.text.endswith("10 天")


def test_the_reminder_and_the_systems_closing_show_to_the_district_staff(
    world, login, make_project, make_declaration
):
    decl = make_declaration(
        make_project(world.yandu, name="未提交的草稿"), world.program, by=world.staff
    )
    assert deadlines.close_expired_drafts(world.program.district_deadline + timedelta(days=1)) == 1
    client = login(world.staff)

    messages = page(client.get("/inbox")).by_id("messages")
    assert "草稿已逾期关闭:未提交的草稿" in messages.text
    assert "草稿逾期未提交,系统自动关闭" in messages.text

    shown = page(client.get(f"/declarations/{decl.id}"))
    assert "逾期未提交" in shown.text  # the stage
    [closing] = [li for li in shown.by_id("history").find_all("li") if "逾期自动关闭" in li.text]
    assert closing.find("strong").text == "系统"
    assert "草稿 → 逾期未提交" in closing.text and "草稿逾期未提交,系统自动关闭" in closing.text
    db.session.expire_all()
    assert decl.stage == "expired"


def test_a_long_inbox_lists_the_soonest_due_and_links_to_the_rest(
    world, login, make_project, make_declaration, monkeypatch
):
    from workflow.views import inbox

    monkeypatch.setattr(inbox, "TASK_ROWS", 2)
    for n in range(3):
        decl = make_declaration(
            make_project(world.yandu, name=f"待初审项目{n}"), world.program, by=world.staff
        )
        act(decl, "submit", world.staff)
    shown = page(login(world.reviewer).get("/inbox"))
    assert "共 3 件" in shown.text
    assert len(shown.by_id("tasks").find("tbody").find_all("tr")) == 2
    more = shown.by_id("tasks-more")
    assert "只列出截止最早的 2 件" in more.text
    assert more.find("a").attrs["href"] == "/declarations?stage=district_review"
