"""The rolling reserve (储备库): the plan, adjustments, snapshots, re-declaration, Excel."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from documents import excel as sheets
from forms.fields import choices
from forms.reserve import AdjustmentDecisionForm, AdjustmentRequestForm, RedeclareForm, SnapshotForm

from .. import reserve, vocab
from ..audit import events_of
from ..errors import OperationError, OverlapWarning
from ..extensions import db
from ..models import District, FundingProgram, Project, ReserveAdjustment, ReserveSnapshot
from ..operations import local_today
from ..permissions import CITY_WIDE_ROLES, project_or_404
from . import projects as project_pages
from .exports import xlsx_response

bp = Blueprint("reserve", __name__, url_prefix="/reserve")
# Which reason codes fit which kind, shown beside the reason select.
REASON_HINT = ";".join(
    f"{vocab.ADJUSTMENT_KINDS[kind]}:" + "、".join(vocab.RESERVE_REASONS[c] for c in codes)
    for kind, codes in vocab.REASONS_BY_ADJUSTMENT.items()
)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


def _require_reader() -> None:
    """District users see their district, the city roles everything; experts have no reserve."""
    if not current_user.is_district_user and current_user.role not in CITY_WIDE_ROLES:
        abort(404)


# --- template helpers, also used by the declaration and project pages -----------------------


@bp.app_template_global("declaration_diff")
def _declaration_diff(decl):
    """The field-level diff of a re-declaration against its previous declaration."""
    return reserve.declaration_diff(decl)


@bp.app_template_global("redeclare_form")
def _redeclare_form(project: Project, *, bound: bool = False) -> RedeclareForm | None:
    """The 「从储备库申报」 form for a reserve project, or None when it does not apply."""
    if current_user.role != "district_staff" or current_user.district_id != project.district_id:
        return None
    if project.reserve_entry is None and project.maturity != "reserve":
        return None
    form = RedeclareForm() if bound else RedeclareForm(formdata=None)
    declared = {d.program_id for d in project.declarations if d.stage != "withdrawn"}
    programs = db.session.scalars(
        select(FundingProgram)
        .where(FundingProgram.status == "open")
        .order_by(FundingProgram.district_deadline)
    ).all()
    form.program_id.choices = choices(
        (p.id, f"{p.title}(区县截止 {p.district_deadline})")
        for p in programs
        if p.id not in declared
    )
    return form


# --- the plan -------------------------------------------------------------------------------


@bp.route("")
def index():
    """The three-year rolling plan with filters and the sum of planned amounts per year."""
    _require_reader()
    filters = reserve.PlanFilters.from_args(request.args)
    entries = reserve.plan_entries(current_user, filters)
    this_year = local_today().year
    pending = {a.project_id: a for a in reserve.visible_adjustments(current_user, status="pending")}
    districts = db.session.scalars(select(District).order_by(District.sort_order)).all()
    return render_template(
        "reserve/index.html",
        columns=reserve.plan_columns(entries, this_year),
        this_year=this_year,
        filters=filters,
        districts=districts,
        pending=pending,
        unplanned=reserve.unplanned_reserve(current_user),
        can_request=current_user.role in reserve.REQUESTERS,
    )


@bp.route("/plan.xlsx")
def plan_export():
    """The plan with the page's filters, in the layout offices use, limited to the user's scope."""
    _require_reader()
    entries = reserve.plan_entries(current_user, reserve.PlanFilters.from_args(request.args))
    today = local_today()
    scope = current_user.district.name if current_user.is_district_user else "全市"
    content = sheets.reserve_plan_workbook(
        reserve.plan_rows(entries),
        title=f"{scope}数据领域项目滚动储备计划({today.year}—{today.year + 2}年)",
        subtitle=f"导出日期:{today.isoformat()}  金额单位:万元",
    )
    stamp = today.strftime("%Y%m%d")
    return xlsx_response(content, f"储备库滚动计划-{stamp}.xlsx", f"reserve-plan-{stamp}.xlsx")


# --- adjustments ----------------------------------------------------------------------------


def _request_form(project: Project) -> AdjustmentRequestForm:
    """The request form, pre-filled from the plan line on first view."""
    entry = project.reserve_entry
    form = AdjustmentRequestForm()
    if request.method == "GET":
        form.kind.data = request.args.get("kind") or ("change" if entry else "admit")
        if form.kind.data not in vocab.ADJUSTMENT_KINDS:
            form.kind.data = "change" if entry else "admit"
        if entry is not None:
            form.declare_year.data = entry.declare_year
            form.start_year.data = entry.start_year
            form.planned_amount.data = entry.planned_amount
            form.priority.data = entry.priority
        else:
            form.declare_year.data = form.start_year.data = local_today().year + 1
            form.priority.data = 2
        form.is_key.data = project.is_key
    return form


@bp.route("/projects/<int:project_id>/adjust", methods=["GET", "POST"])
def request_adjustment(project_id: int):
    """Ask the city for a 调入, 调出 or 调整 of one project."""
    project = project_or_404(project_id, current_user)
    may_request = current_user.role in reserve.REQUESTERS
    if request.method == "POST" and not may_request:
        abort(403, "只有区县填报员和市级审核员可以申请储备库调整")
    form = _request_form(project)
    error, status = None, 200
    if form.validate_on_submit():
        kind = form.kind.data
        try:
            adj = reserve.request_adjustment(
                project,
                kind,
                form.plan() if kind != "remove" else None,
                actor=current_user,
                reason_code=form.reason_code.data,
                reason=form.reason.data,
            )
            db.session.commit()
        except OperationError as exc:
            # Keep what the user typed on the page; nothing of theirs is saved or lost.
            db.session.rollback()
            project = project_or_404(project_id, current_user)
            error = exc.message
            status = exc.status
        else:
            flash(f"已提交{adj.kind_label}申请,等待市级审批", "success")
            return redirect(url_for("reserve.adjustment", adjustment_id=adj.id))
    elif form.errors:
        error = "有内容需要修改(见下方标红的项目),尚未提交;您填写的内容都保留在页面上。"
        status = 422
    return render_template(
        "reserve/adjust.html",
        form=form,
        project=project,
        pending=reserve.pending_adjustment(project),
        reason_hint=REASON_HINT,
        may_request=may_request,
        error=error,
    ), status


@bp.route("/adjustments")
def adjustments():
    """Adjustment requests the user may see, pending first."""
    _require_reader()
    status = request.args.get("status", "")
    status = status if status in vocab.ADJUSTMENT_STATUSES else ""
    return render_template(
        "reserve/adjustments.html",
        adjustments=reserve.visible_adjustments(current_user, status=status or None),
        status=status,
    )


def _adjustment_or_404(adjustment_id: int) -> ReserveAdjustment:
    adj = db.session.get(ReserveAdjustment, adjustment_id)
    if adj is None:
        abort(404)
    project_or_404(adj.project_id, current_user)  # another district's adjustment: 404
    return adj


def _render_adjustment(adj, *, form=None, error=None, status=200):
    return render_template(
        "reserve/adjustment.html",
        adj=adj,
        rows=reserve.adjustment_rows(adj),
        events=events_of("reserve_adjustment", adj.id),
        form=form or AdjustmentDecisionForm(formdata=None, version=adj.version),
        can_decide=adj.status == "pending" and current_user.role in reserve.DECIDERS,
        error=error,
    ), status


@bp.route("/adjustments/<int:adjustment_id>")
def adjustment(adjustment_id: int):
    """One adjustment: what it changes, why, and the city's decision."""
    return _render_adjustment(_adjustment_or_404(adjustment_id))


@bp.route("/adjustments/<int:adjustment_id>/decide", methods=["POST"])
def decide(adjustment_id: int):
    """批准 (and apply) or 不予批准 a pending adjustment."""
    adj = _adjustment_or_404(adjustment_id)
    if current_user.role not in reserve.DECIDERS:
        abort(403, "只有市级审核员可以审批储备库调整")
    form = AdjustmentDecisionForm()
    if not form.validate_on_submit():
        message = ";".join(e for errors in form.errors.values() for e in errors)
        return _render_adjustment(adj, form=form, error=message, status=422)
    approve = form.decision.data == "approve"
    try:
        reserve.decide_adjustment(
            adj,
            approve,
            actor=current_user,
            comment=form.comment.data or "",
            expected_version=int(form.version.data),
        )
        db.session.commit()
    except OperationError as exc:
        # Keep the comment the reviewer typed.
        db.session.rollback()
        adj = _adjustment_or_404(adjustment_id)
        return _render_adjustment(adj, form=form, error=exc.message, status=exc.status)
    flash(f"已{'批准' if approve else '不予批准'}该{adj.kind_label}申请", "success")
    return redirect(url_for("reserve.adjustment", adjustment_id=adj.id))


# --- snapshots ------------------------------------------------------------------------------


def _snapshots():
    return db.session.scalars(
        select(ReserveSnapshot).order_by(ReserveSnapshot.taken_at.desc(), ReserveSnapshot.id.desc())
    ).all()


@bp.route("/snapshots", methods=["GET", "POST"])
def snapshots():
    """The saved snapshots, a form to take one (city), and a form to compare two."""
    _require_reader()
    form = SnapshotForm()
    error = None
    if request.method == "POST":
        if current_user.role not in reserve.DECIDERS:
            abort(403, "只有市级审核员可以保存储备计划快照")
        if form.validate_on_submit():
            try:
                snap = reserve.take_snapshot(form.label.data, actor=current_user)
                db.session.commit()
            except OperationError as exc:
                db.session.rollback()
                error = exc.message
            else:
                flash(f"已保存快照「{snap.label}」,共 {len(snap.entries)} 个项目", "success")
                return redirect(url_for("reserve.snapshots"))
    elif not form.label.data:
        form.label.data = f"{local_today().year}年第一轮"
    rows = _snapshots()
    return render_template(
        "reserve/snapshots.html",
        form=form,
        snapshots=rows,
        can_take=current_user.role in reserve.DECIDERS,
        error=error,
    ), (422 if error or form.errors else 200)


@bp.route("/snapshots/compare")
def compare():
    """Pick two snapshots (form on the snapshots page) and go to their diff."""
    _require_reader()
    old, new = request.args.get("old", ""), request.args.get("new", "")
    if not (old.isdigit() and new.isdigit()) or old == new:
        flash("请选择两个不同的快照进行对比", "danger")
        return redirect(url_for("reserve.snapshots"))
    return redirect(url_for("reserve.snapshot_diff", old_id=int(old), new_id=int(new)))


@bp.route("/snapshots/<int:old_id>/diff/<int:new_id>")
def snapshot_diff(old_id: int, new_id: int):
    """Who moved in, out, or changed between two snapshots, and why."""
    _require_reader()
    old = db.session.get(ReserveSnapshot, old_id) or abort(404)
    new = db.session.get(ReserveSnapshot, new_id) or abort(404)
    if old.taken_at > new.taken_at:
        old, new = new, old
    diff = reserve.diff_snapshots(old, new)
    if current_user.is_district_user:
        diff = diff.for_district(current_user.district_id)
    return render_template("reserve/diff.html", old=old, new=new, diff=diff)


# --- re-declaration -------------------------------------------------------------------------


@bp.route("/projects/<int:project_id>/redeclare", methods=["POST"])
def redeclare(project_id: int):
    """从储备库申报: a draft to an open program, starting from the last declaration's data."""
    project = project_or_404(project_id, current_user)
    if current_user.role != "district_staff":
        abort(403, "只有区县填报员可以申报")
    form = _redeclare_form(project, bound=True)
    back = request.form.get("next") == "reserve"
    target = url_for("reserve.index") if back else url_for("projects.detail", project_id=project.id)
    if form is None:
        flash("该项目不在储备库中,请从项目库申报", "danger")
        return redirect(target)
    if not form.validate_on_submit():
        flash("请选择一个开放中的申报批次", "danger")
        return redirect(target)
    program = db.session.get(FundingProgram, form.program_id.data)
    try:
        decl = reserve.redeclare(
            project, program, actor=current_user, overlap_reason=form.overlap_reason.data
        )
    except OverlapWarning as warning:
        # The project page again with the program still chosen, the warnings and a reason box.
        db.session.rollback()
        if "overlap_reason" in request.form:  # the reason was asked for and left blank
            form.overlap_reason.errors = ["请填写继续的理由"]
        return project_pages.render_detail(
            project_or_404(project_id, current_user),
            redeclare_form=form,
            redeclare_overlaps=warning.warnings,
            error=warning.message,
            status=warning.status,
        )
    db.session.commit()
    flash("已从储备库创建申报草稿,已沿用上次申报的内容,请核对后保存", "success")
    return redirect(url_for("declarations.edit", declaration_id=decl.id))
