"""A 盐都区 project with one of everything, and a table of every route that reaches an object."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import url_for
from sqlalchemy import func, select

from tests import factories
from tests.workflow.test_operations import jpeg_bytes
from workflow import early_warning, notifications, operations, reserve, tracking
from workflow.extensions import db
from workflow.models import (
    Attachment,
    AuditEvent,
    BatchDossier,
    CallProposal,
    CollectionCall,
    Declaration,
    Delegation,
    Dossier,
    ExpertAssignment,
    FundingProgram,
    MonthlyReport,
    Notification,
    Prerequisite,
    Project,
    ProjectWarning,
    RectificationEvidence,
    RectificationTask,
    ReportPhoto,
    ReserveAdjustment,
    ReserveSnapshot,
    TrackingReport,
    User,
)
from workflow.storage import atomic_write, dossier_path, upload_path
from workflow.workdays import add_working_days


@dataclass
class Objects:
    """What a 盐都区 user made: a project, its declaration, an attachment, a ready dossier."""

    project: Project
    prerequisite: Prerequisite
    declaration: Declaration
    attachment: Attachment
    dossier: Dossier
    program: FundingProgram
    other_program: FundingProgram
    notification: Notification
    adjustment: ReserveAdjustment  # a pending 调整 of the project's reserve plan line
    snapshot: ReserveSnapshot  # two snapshots of the reserve plan (city-wide)
    other_snapshot: ReserveSnapshot
    call: CollectionCall  # a program call to 盐都区 (city-wide, like programs)
    draft_proposal: CallProposal  # a 盐都区 project put on the call, not yet proposed
    proposal: CallProposal  # a 盐都区 project proposed to the city, not yet decided
    # A 盐都区 declaration in 专家评审, assigned (unscored) to world.expert; and another expert
    # the city may still assign to it.
    expert_declaration: Declaration
    assignment: ExpertAssignment
    spare_expert: User
    # world.city hands their reviews to a second city reviewer from tomorrow (代理; not in force).
    delegation: Delegation
    # A 盐都区 declaration approved last month, with a complete draft report for that month
    # (this month's is still open) and one site photo on it.
    funded_declaration: Declaration
    report: TrackingReport
    photo: ReportPhoto
    # A ready 盐都区 monthly tracking report (月度调度报告) of last month.
    monthly_report: MonthlyReport
    # A ready batch dossier (批量申报材料) of world.program (city-wide, like programs).
    batch: BatchDossier
    # A 未按时开工 warning on the funded declaration, its open rectification task (owned by
    # world.staff, nothing written yet) and one evidence PDF on it.
    warning: ProjectWarning
    evidence: RectificationEvidence


def yandu_objects(world) -> Objects:
    """Build the objects in world.yandu, owned by world.staff."""
    project = factories.project(world.yandu, name="盐都区城市生命线感知平台")
    decl = factories.declaration(project, world.program, by=world.staff)
    dossier, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    file_name = f"dossier-{dossier.id}.pdf"
    atomic_write(dossier_path(file_name), factories.pdf_bytes())
    dossier.status, dossier.file_name, dossier.page_count = "ready", file_name, 1
    notifications.notify([world.staff], "call_reminder", "征集即将截止", link="/inbox")
    db.session.commit()
    year = operations.local_today().year
    plan = {"declare_year": year, "start_year": year, "priority": 2, "is_key": False}
    first_snapshot = reserve.take_snapshot("第一轮", actor=world.city)
    reserve.admit_to_reserve(
        project, plan, actor=world.city, reason_code="newly_planned", reason="新谋划"
    )
    adjustment = reserve.request_adjustment(
        project,
        "change",
        {**plan, "priority": 1},
        actor=world.staff,
        reason_code="priority_changed",
        reason="前期要件已齐备",
    )
    second_snapshot = reserve.take_snapshot("第二轮", actor=world.city)
    db.session.commit()
    # Built as rows, not through calls.create_call: its messages would join the one above.
    call = CollectionCall(
        title="关于征集数据领域专项申报项目的通知",
        purpose="program",
        program=world.program,
        year=world.program.year,
        notice="请报送项目",
        deadline=operations.local_today() + timedelta(days=10),
        remind_working_days=3,
        status="open",
        created_by_id=world.city.id,
        districts=[world.yandu],
    )
    draft_proposal, proposal = (
        CallProposal(
            call=call,
            project=factories.project(world.yandu),
            district_id=world.yandu.id,
            status=status,
            created_by_id=world.staff.id,
        )
        for status in ("draft", "proposed")
    )
    for extra in (draft_proposal.project, proposal.project):
        extra.prerequisites.clear()  # tests count the prerequisites of the objects above
    db.session.add_all([call, draft_proposal, proposal])
    db.session.commit()
    expert_declaration, assignment = _in_expert_review(world)
    return Objects(
        project=project,
        prerequisite=project.prerequisites[0],
        declaration=decl,
        attachment=decl.attachments[0],
        dossier=dossier,
        program=world.program,
        other_program=factories.program(title="另一个开放批次"),
        notification=db.session.scalars(select(Notification)).one(),
        adjustment=adjustment,
        snapshot=first_snapshot,
        other_snapshot=second_snapshot,
        call=call,
        draft_proposal=draft_proposal,
        proposal=proposal,
        expert_declaration=expert_declaration,
        assignment=assignment,
        spare_expert=factories.user("expert"),
        delegation=_upcoming_delegation(world),
        **_funded_with_warning(world),
        monthly_report=_monthly_report(world),
        batch=_batch(world),
    )


def _monthly_report(world) -> MonthlyReport:
    """Built as a row with a file, as the job leaves it (rendering is tested elsewhere)."""
    last_month = tracking.add_months(tracking.month_start(operations.local_today()), -1)
    report = MonthlyReport(
        month=last_month,
        scope=str(world.yandu.id),
        district_id=world.yandu.id,
        data_hash="0" * 64,
        status="ready",
        job_id="monthly-objects",
        file_name="monthly-objects.pdf",
        page_count=1,
        requested_by_id=world.reviewer.id,
    )
    db.session.add(report)
    db.session.commit()
    atomic_write(dossier_path(report.file_name), factories.pdf_bytes())
    return report


def _batch(world) -> BatchDossier:
    """Built as a row with a file, as the job leaves it (building is tested elsewhere)."""
    batch = BatchDossier(
        program_id=world.program.id,
        fingerprint="0" * 64,
        status="ready",
        job_id="batch-objects",
        progress_done=1,
        progress_total=1,
        declaration_count=1,
        sections_rendered=1,
        attempts=1,
        file_name="batch-objects.pdf",
        page_count=1,
        requested_by_id=world.city.id,
    )
    db.session.add(batch)
    db.session.commit()
    atomic_write(dossier_path(batch.file_name), factories.pdf_bytes())
    return batch


def _upcoming_delegation(world) -> Delegation:
    """Built as a row: create_delegation would message the delegate (the tests count messages)."""
    tomorrow = operations.local_today() + timedelta(days=1)
    delegation = Delegation(
        delegator=world.city,
        delegate=factories.user("city_reviewer"),
        starts_on=tomorrow,
        ends_on=tomorrow + timedelta(days=6),
        reason="出差",
        created_by_id=world.city.id,
    )
    db.session.add(delegation)
    db.session.commit()
    return delegation


def _funded_with_report(world) -> dict:
    """A 盐都区 declaration approved last month, its draft report for that month and a photo."""
    decl = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    last_month = tracking.add_months(tracking.month_start(operations.local_today()), -1)
    factories.act(decl, "submit", world.staff)
    factories.act(decl, "approve", world.reviewer, "同意")
    factories.act(decl, "approve", world.city, "同意")
    approval = {"doc_number": "发改投资〔2026〕18号", "amount": Decimal("280.00")}
    factories.act(
        decl,
        "record_approval",
        world.manager,
        "同意",
        approval={**approval, "approved_on": last_month},
    )
    decl.project.prerequisites.clear()  # tests count the prerequisites of the objects above
    report = tracking.create_report(
        decl,
        last_month,
        {
            "progress_text": "主体工程已开工",
            "progress_percent": Decimal("30"),
            "investment_completed": Decimal("50"),
            "received_central": Decimal("80"),
            "payment_cumulative": Decimal("40"),
        },
        actor=world.staff,
    )
    photo = tracking.add_report_photo(
        report, filename="现场照片.jpg", content=jpeg_bytes(), actor=world.staff
    )
    db.session.commit()
    return {"funded_declaration": decl, "report": report, "photo": photo}


def _funded_with_warning(world) -> dict:
    """The funded declaration above, with a warning, its open task and one evidence file.

    Built as rows: early_warning.evaluate would message the district (the tests count messages).
    """
    funded = _funded_with_report(world)
    decl = funded["funded_declaration"]
    rule = early_warning.ensure_builtin_rules()["late_start"]
    today = operations.local_today()
    warning = ProjectWarning(
        rule=rule,
        declaration=decl,
        district_id=world.yandu.id,
        raised_on=today,
        month=tracking.month_start(today),
        level=rule.level,
        measures={"values": {"days_late_start": "45"}, "conditions": "逾期未开工天数 ≥ 30天"},
        message="计划2026年03月开工,已超过45天未开工(阈值:≥30天)",
    )
    task = RectificationTask(
        warning=warning,
        district_id=world.yandu.id,
        owner=world.staff,
        due_on=add_working_days(today, rule.rectify_working_days),
        evidence_required=rule.evidence_required,
    )
    content = factories.pdf_bytes()
    evidence = RectificationEvidence(
        task=task,
        **operations.stored_file(
            "施工许可证.pdf",
            content,
            "application/pdf",
            "pdf",
            fallback="整改佐证",
            actor=world.staff,
        ),
    )
    db.session.add_all([warning, task, evidence])
    db.session.commit()
    atomic_write(upload_path(evidence.stored_name), content)
    return {**funded, "warning": warning, "evidence": evidence}


def _in_expert_review(world) -> tuple[Declaration, ExpertAssignment]:
    """A 盐都区 declaration driven to 专家评审, with world.expert assigned to it."""
    program = factories.program(title="专家评审批次", workflow_name="expert_review")
    decl = factories.declaration(factories.project(world.yandu), program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    factories.act(decl, "approve", world.reviewer, "同意")
    factories.act(decl, "approve", world.city, "同意")
    decl.project.prerequisites.clear()  # tests count the prerequisites of the objects above
    # A row, not experts.assign_expert: its message would join the one above.
    assignment = ExpertAssignment(declaration=decl, expert=world.expert, assigned_by=world.city)
    db.session.add(assignment)
    db.session.commit()
    return decl, assignment


def snapshot() -> dict:
    """Counts and versions a refused request must leave as they were."""
    db.session.expire_all()
    counts = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Project, Prerequisite, Declaration, Attachment, Dossier, AuditEvent)
    }
    counts["versions"] = db.session.execute(
        select(Declaration.id, Declaration.version, Declaration.stage).order_by(Declaration.id)
    ).all()
    counts["project_versions"] = db.session.execute(
        select(Project.id, Project.version, Project.name).order_by(Project.id)
    ).all()
    return counts


@dataclass(frozen=True)
class Route:
    """One method of one URL rule, how to fill it, and what its owner gets."""

    endpoint: str
    method: str
    params: Callable[[Objects], dict]
    data: Callable[[Objects], dict] | None = None
    owner_status: int = 200
    # Which user of the World the route is meant for (tests sign this one in).
    who: str = "staff"

    @property
    def id(self) -> str:
        return f"{self.method} {self.endpoint}"


def _project(o):
    return {"project_id": o.project.id}


def _decl(o):
    return {"declaration_id": o.declaration.id}


def _attachment(o):
    return {"attachment_id": o.attachment.id}


def _dossier(o):
    return {"dossier_id": o.dossier.id}


def _monthly(o):
    return {"monthly_report_id": o.monthly_report.id}


def _call(o):
    return {"call_id": o.call.id}


def _proposal(o):
    return {"proposal_id": o.proposal.id}


def _assignment(o):
    return {"assignment_id": o.assignment.id}


def _report(o):
    return {"report_id": o.report.id}


def _warning(o):
    return {"warning_id": o.warning.id}


def _rule(o):
    return {"rule_id": o.warning.rule_id}


def _report_values(o) -> dict:
    return {
        "progress_text": "主体工程已完成六成",
        "progress_percent": "60",
        "investment_completed": "120",
        "received_central": "150",
        "payment_cumulative": "100",
    }


def _upload(o):
    return {"kind": "other", "file": (io.BytesIO(factories.pdf_bytes()), "补充材料.pdf")}


# Every route whose URL names a district's object; the isolation test walks all of them.
DISTRICT_ROUTES = (
    Route("projects.detail", "GET", _project),
    Route("figures.funnel", "GET", _project),
    Route("projects.edit", "GET", _project),
    Route(
        "projects.edit",
        "POST",
        _project,
        lambda o: {"name": "被改掉的名字", "category": "digital_economy"},
        302,
    ),
    Route(
        "projects.add_prerequisite",
        "POST",
        _project,
        lambda o: {
            "kind": "environmental",
            "doc_number": "盐环审〔2025〕3号",
            "issued_on": "2025-05-01",
        },
        302,
    ),
    Route(
        "projects.remove_prerequisite",
        "POST",
        lambda o: {"project_id": o.project.id, "prereq_id": o.prerequisite.id},
        lambda o: {},
        302,
    ),
    Route(
        "projects.start_declaration",
        "POST",
        _project,
        lambda o: {"program_id": str(o.other_program.id)},
        302,
    ),
    # The owner reaches it; 出库 itself waits until the project's draft declaration is withdrawn.
    Route(
        "projects.change_maturity",
        "POST",
        _project,
        lambda o: {"action": "remove", "reason": "项目已取消", "version": str(o.project.version)},
        422,
    ),
    Route("declarations.detail", "GET", _decl),
    Route("declarations.edit", "GET", _decl),
    Route("declarations.edit", "POST", _decl, lambda o: {"requested_amount": "250"}, 302),
    Route(
        "declarations.act",
        "POST",
        _decl,
        lambda o: {"action": "withdraw", "version": str(o.declaration.version)},
        302,
    ),
    Route("declarations.upload", "POST", _decl, _upload, 302),
    Route("declarations.download_attachment", "GET", _attachment),
    Route("declarations.delete_attachment", "POST", _attachment, lambda o: {}, 302),
    Route("dossiers.request_dossier", "POST", _decl, lambda o: {}, 302),
    Route("tracking.new", "GET", lambda o: {"declaration_id": o.funded_declaration.id}),
    Route(
        "tracking.new",
        "POST",
        lambda o: {"declaration_id": o.funded_declaration.id},
        lambda o: {
            "period": tracking.month_start(operations.local_today()).isoformat(),
            **_report_values(o),
        },
        302,
    ),
    Route("tracking.detail", "GET", _report),
    Route("tracking.edit", "GET", _report),
    Route(
        "tracking.edit",
        "POST",
        _report,
        lambda o: {**_report_values(o), "version": str(o.report.version)},
        302,
    ),
    Route("tracking.submit", "POST", _report, lambda o: {"version": str(o.report.version)}, 302),
    # The district's reviewer reaches it; the report is still a draft, so reviewing is a 409.
    Route(
        "tracking.review",
        "POST",
        _report,
        lambda o: {"decision": "accept", "comment": "", "version": str(o.report.version)},
        409,
        who="reviewer",
    ),
    Route(
        "tracking.upload_photo",
        "POST",
        _report,
        lambda o: {"file": (io.BytesIO(jpeg_bytes()), "现场照片2.jpg")},
        302,
    ),
    Route("tracking.download_photo", "GET", lambda o: {"photo_id": o.photo.id}),
    Route("warnings.detail", "GET", _warning),
    Route(
        "warnings.respond",
        "POST",
        _warning,
        lambda o: {
            "response": "已开工,施工许可证见佐证材料",
            "action": "submit",
            "version": str(o.warning.task.version),
        },
        302,
    ),
    Route(
        "warnings.upload_evidence",
        "POST",
        _warning,
        lambda o: {"file": (io.BytesIO(factories.pdf_bytes()), "开工报告.pdf")},
        302,
    ),
    # The city reaches it; the task is not submitted yet, so reviewing is a 409.
    Route(
        "warnings.review",
        "POST",
        _warning,
        lambda o: {"decision": "close", "comment": "", "version": str(o.warning.task.version)},
        409,
        who="city",
    ),
    Route("warnings.download_evidence", "GET", lambda o: {"evidence_id": o.evidence.id}),
    Route("dossiers.detail", "GET", _dossier),
    Route("dossiers.status", "GET", _dossier),
    Route("dossiers.download", "GET", _dossier),
    Route("monthly.detail", "GET", _monthly),
    Route("monthly.status", "GET", _monthly),
    Route("monthly.download", "GET", _monthly),
    Route("reserve.request_adjustment", "GET", _project),
    # The project already has a pending adjustment: a second request is a conflict (409).
    Route(
        "reserve.request_adjustment",
        "POST",
        _project,
        lambda o: {"kind": "remove", "reason_code": "cancelled", "reason": "项目取消"},
        409,
    ),
    Route(
        "reserve.redeclare",
        "POST",
        _project,
        lambda o: {"program_id": str(o.other_program.id)},
        302,
    ),
    Route("reserve.adjustment", "GET", lambda o: {"adjustment_id": o.adjustment.id}),
    Route(
        "reserve.decide",
        "POST",
        lambda o: {"adjustment_id": o.adjustment.id},
        lambda o: {"decision": "approve", "version": str(o.adjustment.version)},
        302,
        who="city",
    ),
    Route(
        "calls.propose",
        "POST",
        lambda o: {"proposal_id": o.draft_proposal.id},
        lambda o: {"version": str(o.draft_proposal.version)},
        302,
    ),
    Route("calls.withdraw", "POST", _proposal, lambda o: {"version": str(o.proposal.version)}, 302),
    Route(
        "calls.accept",
        "POST",
        _proposal,
        lambda o: {"comment": "同意", "version": str(o.proposal.version)},
        302,
        who="city",
    ),
    Route(
        "calls.decline",
        "POST",
        _proposal,
        lambda o: {"comment": "不符合支持方向", "version": str(o.proposal.version)},
        302,
        who="city",
    ),
    # The city assigns experts to a district's declaration and takes an assignment back.
    Route(
        "experts.assign",
        "POST",
        lambda o: {"declaration_id": o.expert_declaration.id},
        lambda o: {"expert_id": str(o.spare_expert.id)},
        302,
        who="city",
    ),
    Route(
        "experts.unassign",
        "POST",
        lambda o: {"assignment_id": o.assignment.id},
        lambda o: {},
        302,
        who="city",
    ),
)

# Routes that name an object every signed-in user shares (funding programs are city-wide).
SHARED_ROUTES = (
    Route("programs.detail", "GET", lambda o: {"program_id": o.program.id}, who="city"),
    # Warning rules are the city's (district users get 403, experts 404).
    Route("warnings.edit_rule", "GET", _rule, who="city"),
    Route(
        "warnings.edit_rule",
        "POST",
        _rule,
        lambda o: {
            "name": o.warning.rule.name,
            "level": "yellow",
            "rectify_working_days": "10",
            "enabled": "y",
            "measure_1": "days_late_start",
            "op_1": ">=",
            "value_1": "45",
            "version": str(o.warning.rule.version),
        },
        302,
        who="city",
    ),
    Route("programs.edit", "GET", lambda o: {"program_id": o.program.id}, who="city"),
    Route(
        "programs.edit", "POST", lambda o: {"program_id": o.program.id}, lambda o: {}, who="city"
    ),
    Route("exports.program_summary", "GET", lambda o: {"program_id": o.program.id}, who="city"),
    # Matching a program to the reserve is the city's (district users get 403, not 404).
    Route("matching.index", "GET", lambda o: {"program_id": o.program.id}, who="city"),
    Route(
        "matching.invite",
        "POST",
        lambda o: {"program_id": o.other_program.id},
        lambda o: {"project_ids": str(o.project.id), "message": "请申报"},
        302,
        who="city",
    ),
    Route(
        "reserve.snapshot_diff",
        "GET",
        lambda o: {"old_id": o.snapshot.id, "new_id": o.other_snapshot.id},
        who="city",
    ),
    # A call is the city's; district users it is not sent to get 404 (tests/views/test_call_pages).
    Route("calls.detail", "GET", _call, who="city"),
    Route("calls.edit", "GET", _call, who="city"),
    Route("calls.edit", "POST", _call, lambda o: {}, 422, who="city"),
    Route(
        "calls.close", "POST", _call, lambda o: {"version": str(o.call.version)}, 302, who="city"
    ),
    Route(
        "calls.add_proposal",
        "POST",
        _call,
        lambda o: {"project_id": str(o.project.id), "note": "符合征集方向"},
        302,
    ),
    # A program's expert ranking (city and manager) and score sheet (city and admin).
    Route("experts.ranking", "GET", lambda o: {"program_id": o.program.id}, who="city"),
    Route("experts.criteria", "GET", lambda o: {"program_id": o.program.id}, who="city"),
    Route(
        "experts.criteria",
        "POST",
        lambda o: {"program_id": o.program.id},
        lambda o: {"criteria": "合规性:30\n必要性:30\n可行性:20\n预期效益:20"},
        302,
        who="city",
    ),
    # Batch dossiers are the city's (district users get 403, experts 404).
    Route(
        "batches.request_batch",
        "POST",
        lambda o: {"program_id": o.program.id},
        lambda o: {},
        302,
        who="city",
    ),
    Route("batches.detail", "GET", lambda o: {"batch_id": o.batch.id}, who="city"),
    Route("batches.status", "GET", lambda o: {"batch_id": o.batch.id}, who="city"),
    Route("batches.download", "GET", lambda o: {"batch_id": o.batch.id}, who="city"),
)

# Routes that name an object of one user (their messages); anyone else gets 404.
USER_ROUTES = (
    Route(
        "inbox.read_notification",
        "POST",
        lambda o: {"notification_id": o.notification.id},
        lambda o: {},
        302,
    ),
    # An expert's assignment is theirs alone: another expert, the district and the city get 404
    # (tests/views/test_expert_pages.py walks these).
    Route("experts.review", "GET", _assignment, who="expert"),
    Route(
        "experts.score",
        "POST",
        _assignment,
        lambda o: {
            "s_compliance": "90",
            "s_necessity": "80",
            "s_feasibility": "85",
            "s_benefit": "75",
            "comment": "建设必要性充分,建议支持。",
        },
        302,
        who="expert",
    ),
    Route(
        "experts.attachment",
        "GET",
        lambda o: {
            "assignment_id": o.assignment.id,
            "attachment_id": o.expert_declaration.attachments[0].id,
        },
        who="expert",
    ),
    # A delegation belongs to its delegator (and admins); anyone else gets 404
    # (tests/views/test_delegation_pages.py).
    Route(
        "delegations.end",
        "POST",
        lambda o: {"delegation_id": o.delegation.id},
        lambda o: {},
        302,
        who="city",
    ),
)

# Routes without an object in their URL that take a POST.
PLAIN_POST_ROUTES = (
    Route("auth.login", "POST", lambda o: {}, lambda o: {}),
    Route("auth.logout", "POST", lambda o: {}, lambda o: {}),
    Route("projects.create", "POST", lambda o: {}, lambda o: {"name": "新项目"}),
    Route("programs.create", "POST", lambda o: {}, lambda o: {"title": "新批次"}),
    Route("exports.import_projects", "POST", lambda o: {}, lambda o: {}),
    Route("inbox.read_all_notifications", "POST", lambda o: {}, lambda o: {}),
    Route(
        "reserve.snapshots", "POST", lambda o: {}, lambda o: {"label": "2026年第二轮"}, who="city"
    ),
    Route("calls.create", "POST", lambda o: {}, lambda o: {"title": "新征集"}, who="city"),
    Route("delegations.create", "POST", lambda o: {}, lambda o: {"reason": "出差"}, who="city"),
    Route("warnings.check", "POST", lambda o: {}, lambda o: {}, who="city"),
    Route("warnings.new_rule", "POST", lambda o: {}, lambda o: {"name": "新规则"}, who="city"),
    Route("monthly.index", "POST", lambda o: {}, lambda o: {}, who="city"),
    Route("batches.verify", "POST", lambda o: {}, lambda o: {}),
)


def url(client, route: Route, objects: Objects) -> str:
    """The route's URL for these objects."""
    with client.application.test_request_context():
        return url_for(route.endpoint, **route.params(objects))


def call(client, route: Route, objects: Objects, **extra):
    """Send the route's request as a browser would (forms as multipart, like the upload)."""
    target = url(client, route, objects)
    if route.method == "GET":
        response = client.get(target)
    else:
        data = route.data(objects) if route.data else {}
        response = client.post(target, data={**data, **extra}, content_type="multipart/form-data")
    response.get_data()
    response.close()  # a streamed file (a download) is closed here, not left to the collector
    return response
