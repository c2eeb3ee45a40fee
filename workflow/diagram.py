"""A workflow's diagram, drawn from the same definition that runs (``machine.Workflow``).

The definition becomes plain nodes and edges (``documents.diagram``), Graphviz draws them as
SVG, and the result is kept per (definition, version, current stage): definitions never change
while the process runs, so each picture is drawn once. Also the Chinese names of the guards and
the second line of each stage, which the definition page shows too.
"""

import logging
from functools import lru_cache

from documents import diagram as drawing

from . import definitions, machine, vocab
from .definitions import StageDef

log = logging.getLogger(__name__)

DOT_PROGRAM = "dot"
DOT_TIMEOUT = 10  # seconds

# The Chinese name of every guard a definition may name (machine.GUARDS).
GUARD_LABELS = {
    "in_own_district": "本区县",
    "within_district_window": "区县申报期内",
    "within_revision_window": "市级审核截止前(退回后重新提交)",
    "within_city_window": "市级审核截止前",
    "is_complete": "材料齐全",
    "has_comment": "须填写意见",
    "has_approval_record": "须登记批复文号、金额和日期",
    "experts_have_scored": "专家已完成评分",
}


def guard_label(name: str) -> str:
    """A guard's Chinese name (its code when it has none yet)."""
    return GUARD_LABELS.get(name, name)


def kind_label(stage: StageDef) -> str:
    """The stage's kind in Chinese."""
    return definitions.STAGE_KINDS.get(stage.kind, stage.kind)


def stage_note(stage: StageDef) -> str:
    """The second line of a stage's box: its kind, its countersign rule or experts, its time."""
    parts = [kind_label(stage)]
    if stage.kind == "countersign":
        signers = "、".join(vocab.label(vocab.ROLES, r) for r in stage.signers)
        parts = [f"会签:{signers},{stage.rule_label}"]
    elif stage.kind == "expert_review":
        parts.append(f"至少 {stage.min_experts} 位专家评分")
    if stage.due_working_days:
        parts.append(f"{stage.due_working_days} 个工作日")
    note = " · ".join(parts)
    return "" if note == stage.label else note  # 退回修改 is both a stage and a kind


def step_label(workflow: machine.Workflow, step: machine.Step, source: str) -> str:
    """An edge's label: the action, who fires it when the system does, a countersign's rule."""
    label = step.label
    stage = workflow.stage(source)
    if step.trigger == "approve" and stage is not None and stage.kind == "countersign":
        label += f"({stage.rule_label})"
    if step.is_system:
        label += "(系统)"
    return label


def diagram_of(workflow: machine.Workflow, current: str | None = None) -> drawing.Diagram:
    """The workflow as plain nodes and edges, the current stage marked."""
    defn = workflow.definition
    nodes = tuple(
        drawing.Node(
            id=stage.code,
            label=stage.label,
            note=stage_note(stage),
            start=stage.kind == "start",
            final=stage.kind == "final",
            current=stage.code == current,
            kind=stage.kind,
        )
        for stage in defn.stages
    )
    edges = tuple(
        drawing.Edge(source, step.dest, step_label(workflow, step, source), system=step.is_system)
        for step in workflow.steps
        for source in step.sources
    )
    return drawing.Diagram(f"{defn.title}(第 {defn.version} 版)", nodes, edges)


@lru_cache(maxsize=256)
def _svg(name: str, version: int, current: str | None) -> str:
    workflow = machine.get(name, version)
    if workflow is None:
        raise LookupError(f"流程 {name} 第 {version} 版不存在")
    shape = diagram_of(workflow, current)
    svg = drawing.render_svg(drawing.to_dot(shape), program=DOT_PROGRAM, timeout=DOT_TIMEOUT)
    return drawing.embeddable(svg, shape.title)


def workflow_svg(workflow: machine.Workflow, current: str | None = None) -> str:
    """The workflow's diagram as an embeddable SVG (drawn once per version and stage)."""
    if current is not None and workflow.stage(current) is None:
        current = None  # keeps the cache to the stages that exist, whatever a URL asks for
    try:
        return _svg(workflow.name, workflow.version, current)
    except drawing.DiagramError as error:
        # The page still shows the stages and transitions; the log says what to fix.
        log.error("workflow diagram %s v%s not drawn: %s", workflow.name, workflow.version, error)
        raise


def clear_cache() -> None:
    """Forget the drawn diagrams (tests that change how they are drawn)."""
    _svg.cache_clear()
