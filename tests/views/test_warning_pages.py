"""Warning and rectification pages (预警整改): the lists, the task's round trip, the rules."""

import io
from urllib.parse import quote

from sqlalchemy import func, select

from tests import factories
from tests.views.html import page
from tests.views.objects import yandu_objects
from workflow import early_warning
from workflow.extensions import db
from workflow.models import ProjectWarning, WarningRule
from workflow.storage import upload_path


def _version(warning) -> str:
    db.session.refresh(warning.task)
    return str(warning.task.version)


def test_a_task_goes_round_from_the_district_to_the_city_and_is_closed(world, login):
    objects = yandu_objects(world)
    warning = objects.warning
    path = f"/warnings/{warning.id}"
    staff = login(world.staff)
    listing = page(staff.get("/warnings"))
    row = listing.by_id(f"warning-{warning.id}").text
    assert "未按时开工" in row and objects.funded_declaration.project.name in row
    assert "待整改" in row
    shown = page(staff.get(path))
    assert shown.by_id("warning-message").text == "计划2026年03月开工,已超过45天未开工(阈值:≥30天)"
    assert shown.by_id("task-owner").text == world.staff.display_name
    assert shown.by_id("evidence-required").text == "开工报告或施工许可证、现场照片"
    assert "施工许可证.pdf" in shown.by_id("evidence-list").text

    typed = "已取得施工许可证,主体工程于本月开工。"
    response = staff.post(
        f"{path}/response", data={"response": typed, "action": "save", "version": _version(warning)}
    )
    assert response.status_code == 302
    assert page(staff.get(path)).value("response", "response-form") == typed
    # A page left open while the task moved on: refused, and the typing is kept.
    stale = staff.post(
        f"{path}/response", data={"response": typed + "补充", "action": "submit", "version": "1"}
    )
    assert stale.status_code == 409
    assert "已被他人修改" in page(stale).by_id("page-error").text
    assert page(stale).value("response", "response-form") == typed + "补充"
    response = staff.post(
        f"{path}/response",
        data={"response": typed, "action": "submit", "version": _version(warning)},
    )
    assert response.status_code == 302
    shown = page(staff.get(path))
    assert shown.by_id("task-status").text == "待销号审核"
    assert shown.by_id("response-form") is None and shown.by_id("evidence-form") is None
    assert shown.by_id("task-response").text == typed

    city = login(world.city)
    inbox = page(city.get("/inbox"))
    assert objects.funded_declaration.project.name in inbox.by_id("rectifications").text
    assert page(city.get(path)).by_id("review-form") is not None
    refused = city.post(
        f"{path}/review", data={"decision": "return", "comment": "", "version": _version(warning)}
    )
    assert refused.status_code == 422
    assert "退回整改时请填写审核意见" in page(refused).text
    response = city.post(
        f"{path}/review",
        data={"decision": "return", "comment": "请补充现场照片", "version": _version(warning)},
    )
    assert response.status_code == 302

    staff = login(world.staff)
    shown = page(staff.get(path))
    assert shown.by_id("task-status").text == "退回整改"
    assert "请补充现场照片" in shown.by_id("review-result").text
    assert (
        objects.funded_declaration.project.name
        in page(staff.get("/inbox")).by_id("rectifications").text
    )
    response = staff.post(
        f"{path}/evidence",
        data={"file": (io.BytesIO(factories.pdf_bytes()), "现场照片.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    staff.post(
        f"{path}/response",
        data={"response": typed, "action": "submit", "version": _version(warning)},
    )

    manager = login(world.manager)
    response = manager.post(
        f"{path}/review", data={"decision": "close", "comment": "", "version": _version(warning)}
    )
    assert response.status_code == 302
    shown = page(manager.get(path))
    assert shown.by_id("task-status").text == "已销号"
    assert shown.by_id("warning-status").text.startswith("已销号")
    assert shown.by_id("review-form") is None
    history = shown.by_id("history").text
    for step in (
        "保存整改情况说明",
        "提交整改情况",
        "退回整改",
        "上传整改佐证",
        "审核销号",
        "预警销号",
    ):
        assert step in history, step
    assert page(manager.get("/inbox")).by_id("rectifications") is None


def test_who_may_act_on_a_task(world, login):
    objects = yandu_objects(world)
    path = f"/warnings/{objects.warning.id}"
    reviewer = login(world.reviewer)
    shown = page(reviewer.get(path))
    assert shown.by_id("warning-message") is not None
    assert shown.by_id("response-form") is None and shown.by_id("review-form") is None
    response = reviewer.post(
        f"{path}/response", data={"response": "代为说明", "action": "save", "version": "1"}
    )
    assert response.status_code == 403
    assert "区县的填报员" in page(response).text
    staff = login(world.staff)
    response = staff.post(f"{path}/review", data={"decision": "close", "version": "1"})
    assert response.status_code == 403
    assert "市级审核员或管理人员" in page(response).text
    assert page(staff.get(path)).by_id("task-status").text == "待整改"


def test_each_district_sees_its_own_and_experts_see_nothing(world, login):
    objects = yandu_objects(world)
    staff = login(world.staff)
    home = page(staff.get("/inbox"))
    assert "预警整改" in home.root.find("nav").text
    assert home.by_id("rectifications") is not None
    assert staff.get("/warnings").status_code == 200
    other = login(world.other_staff)
    listing = page(other.get("/warnings"))
    assert listing.rows("warnings") == ["没有符合条件的预警"]
    assert listing.by_id("district-counts") is None
    assert page(other.get("/inbox")).by_id("rectifications") is None
    expert = login(world.expert)
    assert "预警整改" not in page(expert.get("/inbox")).root.find("nav").text
    for path in ("/warnings", f"/warnings/{objects.warning.id}", "/warnings/rules"):
        assert expert.get(path).status_code == 404, path


def test_the_city_sees_every_district_and_filters(world, login):
    objects = yandu_objects(world)
    city = login(world.city)
    listing = page(city.get("/warnings"))
    assert listing.rows("district-counts") == ["盐都区 1 0 0 0"]
    assert f"warning-{objects.warning.id}" in listing.html
    filtered = {
        "level=red": [],
        "level=yellow": [objects.warning.id],
        "status=open": [objects.warning.id],
        "status=closed": [],
        f"district={world.tinghu.id}": [],
        f"rule={objects.warning.rule_id}": [objects.warning.id],
    }
    for query, expected in filtered.items():
        shown = page(city.get(f"/warnings?{query}"))
        found = [
            int(row.attrs["id"].removeprefix("warning-"))
            for row in shown.by_id("warnings").find_all("tr")
            if row.attrs.get("id", "").startswith("warning-")
        ]
        assert found == expected, query


def test_check_now_says_how_many_warnings_it_raised(world, login):
    yandu_objects(world)
    city = login(world.city)

    def count() -> int:
        return db.session.scalar(select(func.count()).select_from(ProjectWarning))

    before = count()
    response = city.post("/warnings/check", follow_redirects=True)
    added = count() - before
    expected = f"新增预警 {added} 条" if added else "没有新增预警"
    assert any(expected in alert for alert in page(response).alerts())
    again = city.post("/warnings/check", follow_redirects=True)
    assert "检查完成:没有新增预警" in page(again).alerts()
    assert count() == before + added
    staff = login(world.staff)
    assert staff.post("/warnings/check").status_code == 403
    assert count() == before + added


def test_the_rules_read_in_chinese_and_only_the_city_sees_them(world, login):
    city = login(world.city)
    shown = page(city.get("/warnings/rules"))
    rows = shown.rows("rules")
    assert len(rows) == 4
    assert any("资金支付率 < 50% 且 批复后的月数 ≥ 6" in row for row in rows)
    assert any("超期未完工" in row and "红色预警" in row for row in rows)
    for who in (world.staff, world.reviewer):
        assert login(who).get("/warnings/rules").status_code == 403


RULE = {
    "name": "调度报告逾期",
    "level": "red",
    "rectify_working_days": "5",
    "enabled": "y",
    "measure_1": "overdue_reports",
    "op_1": ">=",
    "value_1": "2",
    "evidence_required": "补报的调度报告",
}


def test_the_city_adds_a_rule_and_mistakes_keep_the_typing(world, login):
    city = login(world.city)
    city.get("/warnings/rules")  # the built-in rules exist from here on
    response = city.post("/warnings/rules/new", data={**RULE, "value_1": "两份"})
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("value_1") == ["阈值应为数字"]
    assert (shown.value("value_1"), shown.value("name")) == ("两份", "调度报告逾期")
    half = {**RULE, "measure_2": "months_since_approval"}
    response = city.post("/warnings/rules/new", data=half)
    assert response.status_code == 422
    assert page(response).field_errors("op_2") == ["请选择比较方式"]
    response = city.post("/warnings/rules/new", data={**RULE, "name": "进度滞后"})
    assert response.status_code == 422
    assert "已有名为「进度滞后」的规则" in page(response).field_errors("name")
    response = city.post("/warnings/rules/new", data=RULE)
    assert response.status_code == 302
    rows = page(city.get("/warnings/rules")).rows("rules")
    assert any("调度报告逾期" in r and "逾期未报调度报告 ≥ 2份" in r for r in rows)
    assert db.session.scalar(
        select(WarningRule).where(WarningRule.name == "调度报告逾期")
    ).level == ("red")


def test_a_builtin_rules_threshold_is_changed_on_its_page(world, login):
    city = login(world.city)
    city.get("/warnings/rules")
    rule = early_warning.ensure_builtin_rules()["low_payment"]
    path = f"/warnings/rules/{rule.id}/edit"
    seen = rule.version
    shown = page(city.get(path))
    assert shown.value("measure_1") == "payment_rate"  # fixed, carried as a hidden field
    assert shown.value("value_1") == "50" and shown.value("value_2") == "6"
    form = {
        "name": rule.name,
        "level": "yellow",
        "rectify_working_days": "15",
        "enabled": "y",
        "measure_1": "payment_rate",
        "op_1": "<",
        "value_1": "40",
        "measure_2": "months_since_approval",
        "op_2": ">=",
        "value_2": "6",
        "evidence_required": rule.evidence_required,
        "version": str(seen),
    }
    assert city.post(path, data=form).status_code == 302
    rows = page(city.get("/warnings/rules")).rows("rules")
    assert any("资金支付率 < 40% 且 批复后的月数 ≥ 6" in r and "15 个工作日" in r for r in rows)
    stale = city.post(path, data={**form, "value_1": "30"})
    assert stale.status_code == 409
    assert "已被他人修改" in page(stale).by_id("page-error").text
    assert page(stale).value("value_1") == "30"
    swapped = city.post(
        path, data={**form, "measure_1": "investment_rate", "version": str(seen + 1)}
    )
    assert swapped.status_code == 422
    assert "只能修改阈值" in page(swapped).text


def test_evidence_is_checked_and_downloads_under_its_name(world, login):
    objects = yandu_objects(world)
    staff = login(world.staff)
    response = staff.post(
        f"/warnings/{objects.warning.id}/evidence",
        data={"file": (io.BytesIO(b"just some text"), "说明.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "整改佐证只能是 PDF、JPG 或 PNG 文件" in page(response).by_id("page-error").text
    download = staff.get(f"/rectification-evidence/{objects.evidence.id}")
    assert download.status_code == 200
    assert download.data == upload_path(objects.evidence.stored_name).read_bytes()
    assert quote("施工许可证.pdf") in download.headers["Content-Disposition"]
    download.close()
