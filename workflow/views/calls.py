"""Collection calls (征集通知): the list, the city's call form, and a call's page with its board,
the districts' proposals and the city's decisions."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from forms.calls import CollectionCallForm, DecisionForm, ProposalForm
from forms.project import VersionForm

from .. import calls
from ..audit import events_of
from ..errors import OperationError
from ..extensions import db
from ..models import (
    CallProposal,
    CollectionCall,
    District,
    FundingProgram,
    Project,
    User,
    call_districts,
)
from ..operations import local_today
from ..permissions import CITY_WIDE_ROLES
from ..workdays import working_days_between
from . import form_status

bp = Blueprint("calls", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


def call_or_404(call_id: int, user: User) -> CollectionCall:
    """The call if the user may see it: district users only see calls sent to their district."""
    call = db.session.get(CollectionCall, call_id)
    if call is None:
        abort(404)
    if user.is_district_user and user.district_id not in {d.id for d in call.districts}:
        abort(404)
    return call


def proposal_or_404(proposal_id: int, user: User) -> CallProposal:
    """The proposal if the user may see it: its own district, or the city."""
    proposal = db.session.get(CallProposal, proposal_id)
    if proposal is None:
        abort(404)
    if user.is_district_user:
        if proposal.district_id != user.district_id:
            abort(404)
    elif user.role not in CITY_WIDE_ROLES:
        abort(404)
    return proposal


def _require_editor() -> None:
    if current_user.role not in calls.CALL_EDITORS:
        abort(403, "只有市级审核员和管理人员可以发布和管理征集通知")


# --- list -----------------------------------------------------------------------------------


@bp.route("/calls")
def index():
    """Calls newest first; district users see the calls sent to their district."""
    query = select(CollectionCall).options(joinedload(CollectionCall.program))
    own_district = current_user.district_id if current_user.is_district_user else None
    if own_district is not None:
        query = query.join(call_districts, call_districts.c.call_id == CollectionCall.id).where(
            call_districts.c.district_id == own_district
        )
    items = db.session.scalars(
        query.order_by(CollectionCall.created_at.desc(), CollectionCall.id.desc())
    ).all()
    ids = [c.id for c in items]
    summaries = calls.call_summaries(ids)
    own_counts: dict[int, dict[str, int]] = {}
    if own_district is not None and ids:
        for call_id, status, count in db.session.execute(
            select(CallProposal.call_id, CallProposal.status, func.count())
            .where(CallProposal.call_id.in_(ids), CallProposal.district_id == own_district)
            .group_by(CallProposal.call_id, CallProposal.status)
        ):
            own_counts.setdefault(call_id, {})[status] = count
    return render_template(
        "calls/index.html",
        items=items,
        summaries=summaries,
        own_counts=own_counts,
        today=local_today(),
        can_manage=current_user.role in calls.CALL_EDITORS,
    )


# --- the call form --------------------------------------------------------------------------


def _call_form(call: CollectionCall | None) -> CollectionCallForm:
    form = CollectionCallForm()
    programs = select(FundingProgram).where(FundingProgram.status.in_(("open", "draft")))
    if call is not None and call.program_id is not None:
        programs = select(FundingProgram).where(
            FundingProgram.status.in_(("open", "draft")) | (FundingProgram.id == call.program_id)
        )
    form.set_choices(
        db.session.scalars(programs.order_by(FundingProgram.district_deadline)).all(),
        db.session.scalars(select(District).order_by(District.sort_order, District.code)).all(),
    )
    return form


def _show_operation_errors(form: CollectionCallForm, error: OperationError) -> None:
    """Put the operation's per-field messages beside the fields they belong to."""
    names = {"district_ids": "districts"}
    for key, message in error.fields.items():
        name = names.get(key, key)
        if name in form and message not in form[name].errors:
            form[name].errors = [*form[name].errors, message]


@bp.route("/calls/new", methods=["GET", "POST"])
def create():
    """A new call, sent to the districts ticked."""
    _require_editor()
    form = _call_form(None)
    if not form.is_submitted():
        form.year.data = local_today().year
    if form.validate_on_submit():
        try:
            call = calls.create_call(form.call_values(), actor=current_user)
            db.session.commit()
        except OperationError as error:
            db.session.rollback()
            _show_operation_errors(form, error)
            return render_template(
                "calls/form.html", form=form, call=None, error=error.message
            ), error.status
        flash(f"征集通知已发布,已通知 {len(call.districts)} 个区县的填报员", "success")
        return redirect(url_for("calls.detail", call_id=call.id))
    return render_template("calls/form.html", form=form, call=None), form_status(form)


@bp.route("/calls/<int:call_id>/edit", methods=["GET", "POST"])
def edit(call_id: int):
    """Change an open call (a later deadline lets a late district in)."""
    call = call_or_404(call_id, current_user)
    _require_editor()
    form = _call_form(call)
    form.kept_deadline = call.deadline
    if not form.is_submitted():
        for name in ("title", "purpose", "year", "deadline", "remind_working_days", "notice"):
            form[name].data = getattr(call, name)
        form.program_id.data = call.program_id
        form.districts.data = [str(d.id) for d in call.districts]
        form.version.data = call.version
    if form.validate_on_submit():
        seen = int(form.version.data) if str(form.version.data).isdigit() else None
        try:
            calls.update_call(call, form.call_values(), actor=current_user, expected_version=seen)
            db.session.commit()
        except OperationError as error:
            # Keep what the user typed on the page; nothing of theirs is saved or lost.
            db.session.rollback()
            _show_operation_errors(form, error)
            return render_template(
                "calls/form.html", form=form, call=call, error=error.message
            ), error.status
        flash("征集通知已保存", "success")
        return redirect(url_for("calls.detail", call_id=call.id))
    return render_template("calls/form.html", form=form, call=call), form_status(form)


@bp.route("/calls/<int:call_id>/close", methods=["POST"])
def close(call_id: int):
    """End a call; decisions on what was proposed go on."""
    call = call_or_404(call_id, current_user)
    _require_editor()
    form = VersionForm()
    if not form.validate_on_submit():
        return _render_detail(call, error="请求无效,请刷新页面后重试", status=400)
    try:
        calls.close_call(call, actor=current_user, expected_version=form.version.data)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _render_detail(
            call_or_404(call_id, current_user), error=error.message, status=error.status
        )
    flash("征集已截止,区县不能再报送;已报送的项目仍可作出决定", "success")
    return redirect(url_for("calls.detail", call_id=call.id))


# --- a call's page --------------------------------------------------------------------------


def _proposable_projects(call: CollectionCall) -> list[Project]:
    """The user's district projects that are not removed and not on the call yet."""
    on_call = select(CallProposal.project_id).where(CallProposal.call_id == call.id)
    return list(
        db.session.scalars(
            select(Project)
            .where(
                Project.district_id == current_user.district_id,
                Project.maturity != "removed",
                Project.id.not_in(on_call),
            )
            .order_by(Project.updated_at.desc(), Project.id.desc())
        )
    )


def _can_propose(call: CollectionCall, today) -> bool:
    return (
        current_user.role == "district_staff"
        and call.status == "open"
        and not calls.is_past_deadline(call, today)
        and current_user.district_id in {d.id for d in call.districts}
    )


def _render_detail(
    call: CollectionCall,
    *,
    proposal_form: ProposalForm | None = None,
    decision_form: DecisionForm | None = None,
    decision_for: int | None = None,
    error: str | None = None,
    status: int = 200,
):
    today = local_today()
    sees_board = current_user.is_district_user or current_user.role in CITY_WIDE_ROLES
    board = (
        calls.call_board(
            call,
            today=today,
            district_id=current_user.district_id if current_user.is_district_user else None,
        )
        if sees_board
        else None
    )
    proposals: list[CallProposal] = []
    if sees_board:
        query = (
            select(CallProposal)
            .join(District, CallProposal.district_id == District.id)
            .where(CallProposal.call_id == call.id)
            .options(joinedload(CallProposal.project), joinedload(CallProposal.decided_by))
            .order_by(District.sort_order, District.code, CallProposal.id)
        )
        if current_user.is_district_user:
            query = query.where(CallProposal.district_id == current_user.district_id)
        proposals = list(db.session.scalars(query))
    can_propose = _can_propose(call, today)
    if can_propose and proposal_form is None:
        proposal_form = ProposalForm(formdata=None)
    if proposal_form is not None:
        proposal_form.set_projects(_proposable_projects(call))
    return render_template(
        "calls/detail.html",
        call=call,
        today=today,
        board=board,
        proposals=proposals,
        reminder_date=calls.reminder_date(call),
        working_days_left=working_days_between(today, call.deadline),
        past_deadline=calls.is_past_deadline(call, today),
        can_manage=current_user.role in calls.CALL_EDITORS,
        can_decide=current_user.role in calls.DECIDERS,
        can_propose=can_propose,
        proposal_form=proposal_form,
        decision_form=decision_form,
        decision_for=decision_for,
        version_form=VersionForm(formdata=None),
        events=events_of("call", call.id, newest_first=True),
        error=error,
    ), status


@bp.route("/calls/<int:call_id>")
def detail(call_id: int):
    """The notice, deadline and reminder day, the board, and the proposals with their actions."""
    return _render_detail(call_or_404(call_id, current_user))


@bp.route("/calls/<int:call_id>/proposals", methods=["POST"])
def add_proposal(call_id: int):
    """Put one of the district's projects on the call as a draft."""
    call = call_or_404(call_id, current_user)
    if current_user.role != "district_staff":
        abort(403, "只有区县填报员可以报送征集项目")
    form = ProposalForm()
    form.set_projects(_proposable_projects(call))
    if not form.validate_on_submit():
        return _render_detail(
            call, proposal_form=form, error="报送项目填写有误,请按提示修改", status=422
        )
    project = db.session.get(Project, form.project_id.data)
    try:
        calls.add_proposal(call, project, form.note.data or "", actor=current_user)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _render_detail(
            call_or_404(call_id, current_user),
            proposal_form=form,
            error=error.message,
            status=error.status,
        )
    flash(f"已添加「{project.name}」,确认无误后请点击「报送」", "success")
    return redirect(url_for("calls.detail", call_id=call.id) + "#proposals")


def _proposal_action(proposal_id: int, act, done: str):
    """Propose or withdraw: one transaction, back to the call's page."""
    proposal = proposal_or_404(proposal_id, current_user)
    call_id = proposal.call_id
    form = VersionForm()
    if not form.validate_on_submit():
        return _render_detail(proposal.call, error="请求无效,请刷新页面后重试", status=400)
    try:
        act(proposal, actor=current_user, expected_version=form.version.data)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _render_detail(
            call_or_404(call_id, current_user), error=error.message, status=error.status
        )
    flash(f"「{proposal.project.name}」{done}", "success")
    return redirect(url_for("calls.detail", call_id=call_id) + "#proposals")


@bp.route("/proposals/<int:proposal_id>/propose", methods=["POST"])
def propose(proposal_id: int):
    """Send a drafted proposal to the city."""
    return _proposal_action(proposal_id, calls.propose, "已报送市数据局")


@bp.route("/proposals/<int:proposal_id>/withdraw", methods=["POST"])
def withdraw(proposal_id: int):
    """Take a proposal back to draft before the city decides."""
    return _proposal_action(proposal_id, calls.withdraw_proposal, "已撤回为草稿")


def _decide(proposal_id: int, act, done: str):
    """Accept or decline with a comment; a refusal keeps the comment typed."""
    proposal = proposal_or_404(proposal_id, current_user)
    call_id = proposal.call_id
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_detail(
            proposal.call,
            decision_form=form,
            decision_for=proposal.id,
            error=";".join(form.comment.errors) or "请求无效,请刷新页面后重试",
            status=422 if form.comment.errors else 400,
        )
    try:
        act(
            proposal,
            form.comment.data or "",
            actor=current_user,
            expected_version=form.seen_version(),
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _render_detail(
            call_or_404(call_id, current_user),
            decision_form=form,
            decision_for=proposal_id,
            error=error.message,
            status=error.status,
        )
    flash(f"「{proposal.project.name}」{done}", "success")
    return redirect(url_for("calls.detail", call_id=call_id) + "#proposals")


@bp.route("/proposals/<int:proposal_id>/accept", methods=["POST"])
def accept(proposal_id: int):
    """Accept: into the reserve, or an invitation to declare to the program."""
    proposal = proposal_or_404(proposal_id, current_user)
    done = "已采纳,纳入储备库" if proposal.call.purpose == "reserve" else "已采纳,已邀请区县申报"
    return _decide(proposal_id, calls.accept_proposal, done)


@bp.route("/proposals/<int:proposal_id>/decline", methods=["POST"])
def decline(proposal_id: int):
    """Decline, with the reason the district will read."""
    return _decide(proposal_id, calls.decline_proposal, "未予采纳")
