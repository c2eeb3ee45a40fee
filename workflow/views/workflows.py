"""Workflow definitions (审核流程), read-only: every definition and version, and one in detail.

Definitions are edited as files under review (workflow/data/workflows/), never on a web page;
these pages show what runs: the diagram drawn from the definition, its stages and its
transitions. They are for the city (市级审核员, 管理人员, 系统管理员), who choose a program's
workflow; a district user or an expert gets 403, since the pages count declarations across
districts. Each declaration page shows its own workflow's diagram to whoever may see the
declaration (``workflow_panel``).
"""

from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import func, select

from documents.diagram import DiagramError

from .. import diagram, machine, vocab
from ..extensions import db
from ..models import Declaration, FundingProgram

bp = Blueprint("workflows", __name__, url_prefix="/workflows")
VIEWERS = frozenset({"city_reviewer", "manager", "admin"})


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.app_template_global()
def can_view_workflows() -> bool:
    """Whether the signed-in user may open the workflow definition pages."""
    return current_user.is_authenticated and current_user.role in VIEWERS


@dataclass(frozen=True)
class Picture:
    """A diagram ready for a page: the SVG, or why it could not be drawn."""

    svg: Markup | None
    error: str | None


def _picture(workflow: machine.Workflow, current: str | None = None) -> Picture:
    try:
        # Drawn by Graphviz from our own definition files; nothing a user typed is in it, and
        # documents.diagram refuses any SVG with scripts or event handlers.
        return Picture(Markup(diagram.workflow_svg(workflow, current)), None)
    except DiagramError as error:
        return Picture(None, str(error))


@dataclass(frozen=True)
class DeclarationWorkflow:
    """What a declaration page shows of its workflow."""

    workflow: machine.Workflow | None
    picture: Picture | None
    missing: str | None  # the pinned version no longer ships


@bp.app_template_global()
def workflow_panel(decl: Declaration) -> DeclarationWorkflow:
    """The declaration's own workflow version, its diagram with the current stage marked."""
    try:
        workflow = machine.workflow_for(decl)
    except LookupError as error:
        return DeclarationWorkflow(None, None, str(error))
    return DeclarationWorkflow(workflow, _picture(workflow, decl.stage), None)


def _require_viewer() -> None:
    if current_user.role not in VIEWERS:
        abort(403, "只有市级审核员、管理人员和系统管理员可以查看审核流程定义")


def _programs_by_workflow() -> dict[str, list[FundingProgram]]:
    programs = db.session.scalars(
        select(FundingProgram).order_by(FundingProgram.year.desc(), FundingProgram.id.desc())
    ).all()
    found: dict[str, list[FundingProgram]] = {}
    for program in programs:
        found.setdefault(program.workflow_name, []).append(program)
    return found


@bp.route("")
def index():
    """Every definition and version, who uses it and how many declarations follow it."""
    _require_viewer()
    rows = db.session.execute(
        select(Declaration.workflow_name, Declaration.workflow_version, func.count()).group_by(
            Declaration.workflow_name, Declaration.workflow_version
        )
    ).all()
    counts = {(name, version): n for name, version, n in rows}
    return render_template(
        "workflows/index.html",
        workflows=machine.all_workflows(),
        latest={name: machine.latest(name) for name in machine.workflow_names()},
        programs=_programs_by_workflow(),
        counts=counts,
    )


def _requested_workflow() -> machine.Workflow:
    name = request.args.get("name", "")
    version = request.args.get("version", "")
    if not version:
        return machine.latest(name) or abort(404)
    if not version.isdigit():
        abort(404)
    return machine.get(name, int(version)) or abort(404)


@bp.route("/view")
def view():
    """One definition at one version (the newest when none is named): diagram, stages, steps."""
    _require_viewer()
    workflow = _requested_workflow()
    current = request.args.get("current") or None
    if current is not None and workflow.stage(current) is None:
        current = None
    by_stage = dict(
        db.session.execute(
            select(Declaration.stage, func.count())
            .where(
                Declaration.workflow_name == workflow.name,
                Declaration.workflow_version == workflow.version,
            )
            .group_by(Declaration.stage)
        ).all()
    )
    programs = _programs_by_workflow().get(workflow.name, [])
    return render_template(
        "workflows/view.html",
        workflow=workflow,
        defn=workflow.definition,
        versions=[w for w in machine.all_workflows() if w.name == workflow.name],
        is_latest=machine.latest(workflow.name) is workflow,
        picture=_picture(workflow, current),
        current=current,
        mermaid=workflow.mermaid(current),
        by_stage=by_stage,
        programs=programs,
        steps=[_step_row(workflow, step) for step in workflow.steps],
        kind_label=diagram.kind_label,
        file_name=Path(workflow.definition.source).name,
    )


@dataclass(frozen=True)
class StepRow:
    """One row of the transitions table, in Chinese."""

    trigger: str
    label: str
    sources: list[str]
    dest: str
    roles: list[str]
    conditions: list[str]
    opinion: bool
    is_system: bool


def _step_row(workflow: machine.Workflow, step: machine.Step) -> StepRow:
    conditions = [diagram.guard_label(g.name) for g in step.guards]
    countersigns = [
        s for s in (workflow.stage(code) for code in step.sources) if s and s.kind == "countersign"
    ]
    if step.trigger == "approve" and countersigns:
        # The machine adds this condition to every approval in a countersign stage.
        conditions.insert(0, f"会签达到规则({countersigns[0].rule_label})")
    return StepRow(
        trigger=step.trigger,
        label=step.label,
        sources=[vocab.label(vocab.STAGES, code) for code in step.sources],
        dest=vocab.label(vocab.STAGES, step.dest),
        roles=[vocab.label(vocab.ROLES, r) for r in step.roles],
        conditions=conditions,
        opinion=step.opinion and not step.is_system,
        is_system=step.is_system,
    )
