"""Expert review (专家评审): the experts' own tasks and score sheets, the city's assignments,
a program's score sheet and its ranking.

An expert reaches a declaration only through an assignment of their own: every page here that
names an assignment answers 404 to anyone else, and the declaration pages stay closed to
experts. Also gives the declaration page, the program page and the inbox what they show of
this feature (template helpers).
"""

from dataclasses import dataclass

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user, login_required

from forms.experts import (
    ExpertAssignForm,
    ExpertUnassignForm,
    ScoreCriteriaForm,
    criteria_text,
    score_sheet_form,
)

from .. import experts, machine, vocab
from ..errors import OperationError
from ..extensions import db
from ..models import Attachment, Declaration, ExpertAssignment, FundingProgram, User
from ..permissions import declaration_or_404
from . import form_status

bp = Blueprint("experts", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


# --- template helpers for other pages ---------------------------------------------------------


@dataclass
class Panel:
    """What the declaration page shows the city of its expert review."""

    stage: object  # the StageDef when the declaration is in an expert stage, else None
    summary: experts.RoundSummary
    criteria: list[dict]
    past: list[ExpertAssignment]
    candidates: list[experts.Candidate]
    gaps: list[str]
    form: ExpertAssignForm | None
    unassign_form: ExpertUnassignForm | None


@bp.app_template_global()
def expert_panel(decl: Declaration) -> Panel | None:
    """The declaration's expert review for the city (None when there is nothing to show)."""
    if current_user.role not in experts.SCORE_VIEWERS:
        return None
    stage = experts.expert_stage(decl)
    summary = experts.round_summary(decl)
    past = experts.past_assignments(decl)
    if stage is None and not summary.assigned and not past:
        return None
    can_assign = stage is not None and current_user.role in experts.ASSIGNERS
    candidates = experts.expert_candidates(decl) if can_assign else []
    form = None
    if can_assign:
        # After a refused assignment the page comes back with the expert that was chosen.
        form = g.get("expert_assign_form") or ExpertAssignForm(formdata=None)
        form.set_experts(candidates)
    return Panel(
        stage=stage,
        summary=summary,
        criteria=experts.score_criteria(decl.program),
        past=past,
        candidates=candidates,
        gaps=experts.scoring_gaps(decl, min_experts=stage.min_experts) if stage else [],
        form=form,
        unassign_form=ExpertUnassignForm(formdata=None) if can_assign else None,
    )


@bp.app_template_global()
def expert_pending_reviews() -> list[ExpertAssignment]:
    """The signed-in expert's assignments that wait for their score (for the inbox)."""
    if current_user.role != "expert":
        return []
    return experts.assignments_of(current_user, pending_only=True)


@dataclass
class ProgramSheet:
    """What the program page shows of expert review."""

    criteria: list[dict]
    is_default: bool
    has_scores: bool
    can_edit: bool
    can_rank: bool


def _uses_expert_review(program: FundingProgram) -> bool:
    workflow = machine.latest(program.workflow_name)
    return workflow is not None and any(
        s.kind == "expert_review" for s in workflow.definition.stages
    )


@bp.app_template_global()
def program_expert_sheet(program: FundingProgram) -> ProgramSheet | None:
    """The program's score sheet and links, when its declarations go through expert review."""
    has_scores = experts.program_has_scores(program)
    if not (_uses_expert_review(program) or has_scores):
        return None
    return ProgramSheet(
        criteria=experts.score_criteria(program),
        is_default=not program.score_criteria,
        has_scores=has_scores,
        can_edit=current_user.role in experts.CRITERIA_EDITORS and not has_scores,
        can_rank=current_user.role in experts.SCORE_VIEWERS,
    )


# --- the experts' pages ---------------------------------------------------------------------


def _own_assignment_or_404(assignment_id: int) -> ExpertAssignment:
    """The signed-in expert's own assignment; anyone else's, or anyone else, gets 404."""
    assignment = db.session.get(ExpertAssignment, assignment_id)
    if assignment is None or assignment.expert_id != current_user.id:
        abort(404)
    return assignment


@bp.route("/reviews")
def index():
    """The expert's assignments, current and past, each with its status."""
    if current_user.role != "expert":
        abort(403, "评审任务只对评审专家开放")
    assignments = experts.assignments_of(current_user)
    return render_template(
        "experts/index.html",
        assignments=[(a, experts.assignment_status(a)) for a in assignments],
        statuses=experts.ASSIGNMENT_STATUSES,
    )


def _render_review(assignment: ExpertAssignment, *, form=None, error=None, status=200):
    decl = assignment.declaration
    criteria = experts.score_criteria(decl.program)
    can_score = experts.can_correct(assignment)
    if form is None:
        form = score_sheet_form(criteria)(formdata=None)
        if assignment.score is not None:
            form.load(assignment.score)
    return render_template(
        "experts/review.html",
        assignment=assignment,
        decl=decl,
        project=decl.project,
        criteria=criteria,
        status_code=experts.assignment_status(assignment),
        statuses=experts.ASSIGNMENT_STATUSES,
        can_score=can_score,
        form=form,
        error=error,
    ), status


@bp.route("/reviews/<int:assignment_id>")
def review(assignment_id: int):
    """One assignment: the declaration read-only and the score sheet."""
    return _render_review(_own_assignment_or_404(assignment_id))


@bp.route("/reviews/<int:assignment_id>/score", methods=["POST"])
def score(assignment_id: int):
    """Submit (or correct) the score sheet."""
    assignment = _own_assignment_or_404(assignment_id)
    form = score_sheet_form(experts.score_criteria(assignment.declaration.program))()
    if not form.validate_on_submit():
        return _render_review(
            assignment, form=form, error="评分表有误,请按提示修改", status=form_status(form)
        )
    corrected = assignment.score is not None
    try:
        sheet = experts.submit_score(
            assignment, form.scores(), form.comment.data, actor=current_user
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        assignment = _own_assignment_or_404(assignment_id)
        return _render_review(assignment, form=form, error=error.message, status=error.status)
    flash(f"评分已{'修改' if corrected else '提交'}:加权总分 {sheet.total:.2f}", "success")
    return redirect(url_for("experts.review", assignment_id=assignment_id))


@bp.route("/reviews/<int:assignment_id>/attachments/<int:attachment_id>")
def attachment(assignment_id: int, attachment_id: int):
    """An attachment of the assigned declaration, while the assignment stands."""
    from .declarations import attachment_download

    assignment = _own_assignment_or_404(assignment_id)
    found = db.session.get(Attachment, attachment_id)
    if (
        assignment.voided_at is not None
        or found is None
        or found.declaration_id != assignment.declaration_id
    ):
        abort(404)
    return attachment_download(found)


# --- the city's side ------------------------------------------------------------------------


def _detail_with_error(decl: Declaration, error: OperationError | str, status: int):
    """The declaration page again, with the message at the top and the chosen expert kept."""
    from .declarations import _render_detail

    message = error.message if isinstance(error, OperationError) else error
    return _render_detail(decl, error=message, status=status)


@bp.route("/declarations/<int:declaration_id>/experts", methods=["POST"])
def assign(declaration_id: int):
    """Assign an expert to the declaration's current round."""
    decl = declaration_or_404(declaration_id, current_user)
    if current_user.role not in experts.ASSIGNERS:
        abort(403, "只有市级审核员可以分配评审专家")
    form = ExpertAssignForm()
    g.expert_assign_form = form
    if not form.validate_on_submit():
        messages = [m for errors in form.errors.values() for m in errors]
        return _detail_with_error(decl, ";".join(messages) or "请求无效,请刷新页面后重试", 422)
    expert = db.session.get(User, form.expert_id.data)
    if expert is None:
        return _detail_with_error(decl, "所选专家不存在,请刷新页面后重新选择", 422)
    seen = int(form.version.data) if str(form.version.data or "").isdigit() else None
    try:
        experts.assign_expert(decl, expert, actor=current_user, expected_version=seen)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        decl = declaration_or_404(declaration_id, current_user)
        return _detail_with_error(decl, error, error.status)
    flash(f"已分配评审专家{expert.display_name},已通知其评分", "success")
    return redirect(url_for("declarations.detail", declaration_id=decl.id) + "#expert-review")


@bp.route("/assignments/<int:assignment_id>/unassign", methods=["POST"])
def unassign(assignment_id: int):
    """Take back an assignment the expert has not scored."""
    assignment = db.session.get(ExpertAssignment, assignment_id) or abort(404)
    decl = declaration_or_404(assignment.declaration_id, current_user)
    if current_user.role not in experts.ASSIGNERS:
        abort(403, "只有市级审核员可以撤销评审分配")
    if not ExpertUnassignForm().validate_on_submit():
        abort(400)
    name = assignment.expert.display_name
    try:
        experts.unassign_expert(assignment, actor=current_user)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _detail_with_error(declaration_or_404(decl.id, current_user), error, error.status)
    flash(f"已撤销{name}的评审分配", "success")
    return redirect(url_for("declarations.detail", declaration_id=decl.id) + "#expert-review")


@bp.route("/programs/<int:program_id>/ranking")
def ranking(program_id: int):
    """The program's declarations ranked by their experts' mean weighted total."""
    if current_user.role not in experts.SCORE_VIEWERS:
        abort(403, "只有市级审核员和管理人员可以查看专家评审排名")
    program = db.session.get(FundingProgram, program_id) or abort(404)
    rows = experts.program_ranking(program)
    return render_template(
        "experts/ranking.html",
        program=program,
        rows=rows,
        criteria=experts.score_criteria(program),
    )


@bp.route("/programs/<int:program_id>/criteria", methods=["GET", "POST"])
def criteria(program_id: int):
    """A program's score sheet (评分表), editable until the first score is in."""
    if current_user.role not in experts.CRITERIA_EDITORS:
        abort(403, "只有市级审核员和系统管理员可以设置评分表")
    program = db.session.get(FundingProgram, program_id) or abort(404)
    form = ScoreCriteriaForm()
    if not form.is_submitted():
        form.criteria.data = experts.score_criteria(program)
        form.version.data = program.version
    locked = experts.program_has_scores(program)
    error, status = None, 200
    if form.validate_on_submit():
        seen = int(form.version.data) if str(form.version.data or "").isdigit() else None
        try:
            experts.set_score_criteria(
                program, form.criteria.data, actor=current_user, expected_version=seen
            )
            db.session.commit()
        except OperationError as failure:
            db.session.rollback()
            error, status = failure.message, failure.status
        else:
            flash("评分表已保存", "success")
            return redirect(url_for("programs.detail", program_id=program.id))
    elif form.is_submitted():
        error, status = "评分表有误,请按提示修改", form_status(form)
    return render_template(
        "experts/criteria.html",
        program=program,
        form=form,
        current=experts.score_criteria(program),
        default_text=criteria_text(list(vocab.DEFAULT_SCORE_CRITERIA)),
        locked=locked,
        error=error,
    ), status
