"""The 待办 inbox: what waits for the signed-in user, soonest deadline first."""

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from .. import deadlines, matching, notifications, prerequisites, tracking
from ..extensions import db
from ..models import Declaration, Dossier, FundingProgram, Notification, Project, TrackingReport
from ..operations import local_today
from ..permissions import scope_declarations, scope_projects

bp = Blueprint("inbox", __name__)

# Which stages wait for which role, and which program deadline bounds that wait.
WAITING_FOR = {
    "district_staff": (("draft", "returned"), "district_deadline"),
    "district_reviewer": (("district_review",), "city_deadline"),
    "city_reviewer": (("city_review", "expert_review"), "city_deadline"),
    "manager": (("recommended",), "upstream_deadline"),
}
# Who sees 前期要件 about to expire (district staff their own district's, the city all of them).
EXPIRY_WATCHERS = frozenset({"district_staff", "city_reviewer", "manager"})
EXPIRY_ROWS = 20
REPORT_ROWS = 20
# The soonest-due declarations shown; the rest are a click away in the declarations list.
TASK_ROWS = 30


@dataclass
class Task:
    """One row of the inbox."""

    declaration: Declaration
    deadline: date | None
    days_left: int | None  # working days for a stage's due date, calendar days for a program's
    stage_due: bool = False  # the deadline is the stage's due date (办理时限), not the program's
    overdue: bool = False


@bp.route("/")
@login_required
def home():
    """The start page is the inbox."""
    return redirect(url_for("inbox.index"))


@bp.route("/inbox")
@login_required
def index():
    """Tasks for the user's role, open programs, and recent dossiers."""
    today = local_today()
    tasks: list[Task] = []
    stages, deadline_field = WAITING_FOR.get(current_user.role, ((), None))
    if stages:
        query = scope_declarations(
            select(Declaration)
            .where(Declaration.stage.in_(stages))
            .options(joinedload(Declaration.program), joinedload(Declaration.project)),
            current_user,
        )
        for decl in db.session.scalars(query).unique():
            if decl.stage_due_on is not None:
                # The stage's own due date, in working days, says more than the program's window.
                due = decl.stage_due_on
                left = deadlines.working_days_left(decl, today)
                tasks.append(Task(decl, due, left, stage_due=True, overdue=today > due))
                continue
            deadline = getattr(decl.program, deadline_field)
            left = (deadline - today).days if deadline else None
            tasks.append(Task(decl, deadline, left, overdue=left is not None and left < 0))
        tasks.sort(key=lambda t: (t.deadline or date.max, t.declaration.id))
    open_programs = db.session.scalars(
        select(FundingProgram)
        .where(FundingProgram.status == "open")
        .order_by(FundingProgram.district_deadline)
    ).all()
    dossiers = db.session.scalars(
        scope_declarations(select(Dossier).join(Declaration), current_user)
        .order_by(Dossier.created_at.desc())
        .limit(8)
    ).all()
    counts = dict(
        db.session.execute(
            scope_projects(
                select(Project.maturity, func.count()).group_by(Project.maturity), current_user
            )
        ).all()
    )
    expiring = (
        prerequisites.expiring(
            today, prerequisites.warning_days(), user=current_user, limit=EXPIRY_ROWS
        )
        if current_user.role in EXPIRY_WATCHERS
        else []
    )
    invitations = (
        matching.open_invitations(current_user, today)
        if current_user.role == "district_staff"
        else []
    )
    owed_reports, reports_to_review = _tracking_tasks(today)
    return render_template(
        "inbox/index.html",
        owed_reports=owed_reports,
        reports_to_review=reports_to_review,
        report_rows=REPORT_ROWS,
        grace_days=tracking.GRACE_WORKING_DAYS,
        expiring=expiring,
        expiry_days=prerequisites.warning_days(),
        expiry_rows=EXPIRY_ROWS,
        invitations=invitations,
        messages=notifications.unread_of(current_user),
        unread=notifications.unread_count(current_user),
        tasks=tasks[:TASK_ROWS],
        task_count=len(tasks),
        # One stage filters the list to exactly these; two (draft, returned) leave it unfiltered.
        all_tasks_url=url_for("declarations.index", stage=stages[0] if len(stages) == 1 else None),
        today=today,
        open_programs=open_programs,
        dossiers=dossiers,
        counts=counts,
    )


def _tracking_tasks(today: date) -> tuple[list, list[TrackingReport]]:
    """Reports the district staff owe (due soon or overdue) and reports the reviewer must check."""
    if current_user.role == "district_staff":
        funded = db.session.scalars(
            scope_declarations(select(Declaration), current_user)
            .where(Declaration.stage == "approved")
            .options(joinedload(Declaration.program), joinedload(Declaration.project))
        ).all()
        return tracking.reports_owed(today, list(funded)), []
    if current_user.role == "district_reviewer":
        waiting = db.session.scalars(
            scope_declarations(
                select(TrackingReport).join(TrackingReport.declaration), current_user
            )
            .where(TrackingReport.status == "submitted")
            .options(joinedload(TrackingReport.declaration).joinedload(Declaration.project))
            .order_by(TrackingReport.submitted_at)
        ).all()
        return [], list(waiting)
    return [], []


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def read_notification(notification_id: int):
    """Mark one message read and follow its link (only the receiver's own messages)."""
    message = db.session.get(Notification, notification_id)
    if message is None or message.user_id != current_user.id:
        abort(404)
    notifications.mark_read(current_user, notification_id)
    db.session.commit()
    # Only a path of this site is followed ("//host" would leave it).
    if request.form.get("follow") and message.link.startswith("/") and message.link[1:2] != "/":
        return redirect(message.link)
    return redirect(url_for("inbox.index"))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all_notifications():
    """Mark every message of the signed-in user read."""
    notifications.mark_read(current_user)
    db.session.commit()
    return redirect(url_for("inbox.index"))
