"""Workflow definitions as data: the YAML files of ``workflow/data/workflows/``, read and checked.

A definition names its stages (each of a kind: start, approval, countersign, expert_review,
revision, result, final) and its transitions (trigger, from, to, who, guards). It is checked
when loaded: unknown stages, triggers, roles or guards, stages nothing leads to, stages that
lead nowhere, and countersign stages without signers are errors that name the file and the
place. ``workflow/machine.py`` turns each checked definition into a running machine.

A definition is never edited once declarations use it: a change is a new file with the next
``version``, and every declaration keeps the version it started with.
"""

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import vocab

FOLDER = Path(__file__).resolve().parent / "data" / "workflows"

STAGE_KINDS = {
    "start": "起点",
    "approval": "审核",
    "countersign": "会签",
    "expert_review": "专家评审",
    "revision": "退回修改",
    "result": "等待上级结果",
    "final": "终点",
}
COUNTERSIGN_RULES = {"all": "全部签署", "any": "任一签署", "quorum": "N 人签署"}
STAGE_KEYS = {
    "code",
    "kind",
    "due_working_days",
    "remind_before",
    "escalate_to",
    "signers",
    "rule",
    "quorum",
    "min_experts",
}
TRANSITION_KEYS = {"trigger", "from", "to", "roles", "guards", "opinion"}


class DefinitionError(Exception):
    """A definition that cannot run; ``problems`` lists every reason, in Chinese."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class StageDef:
    """One stage of a definition."""

    code: str
    kind: str
    due_working_days: int | None = None
    remind_before: int = 1
    escalate_to: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()  # countersign: the roles whose users sign
    rule: str | None = None  # countersign: all / any / quorum
    quorum: int | None = None
    min_experts: int = 1  # expert review: scores needed before the city concludes

    @property
    def label(self) -> str:
        return vocab.label(vocab.STAGES, self.code)

    @property
    def rule_label(self) -> str:
        if self.rule == "quorum":
            return f"{self.quorum} 人签署即可"
        return COUNTERSIGN_RULES.get(self.rule or "", "")


@dataclass(frozen=True)
class TransitionDef:
    """One transition: a trigger from some stages to one stage, for some roles (none: system)."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[str, ...] = ()
    opinion: bool = True

    @property
    def is_system(self) -> bool:
        return not self.roles


@dataclass(frozen=True)
class Definition:
    """A checked workflow definition."""

    name: str
    version: int
    title: str
    description: str
    stages: tuple[StageDef, ...]
    transitions: tuple[TransitionDef, ...]
    source: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @property
    def start(self) -> str:
        return next(s.code for s in self.stages if s.kind == "start")

    def stage(self, code: str) -> StageDef | None:
        """The stage with this code, if the definition has it."""
        return next((s for s in self.stages if s.code == code), None)

    @property
    def final_stages(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.stages if s.kind == "final")


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def _stage(raw: Any, index: int, problems: list[str]) -> StageDef | None:
    where = f"stages 第 {index} 项"
    if not isinstance(raw, dict):
        problems.append(f"{where}:应为键值对")
        return None
    for key in sorted(set(raw) - STAGE_KEYS):
        problems.append(f"{where}:未知的键「{key}」")
    code, kind = raw.get("code"), raw.get("kind")
    if not isinstance(code, str) or not code:
        problems.append(f"{where}:缺少阶段代码 code")
        return None
    if code not in vocab.STAGES:
        problems.append(f"阶段「{code}」不是系统已知的阶段({'、'.join(vocab.STAGES)})")
    if kind not in STAGE_KINDS:
        problems.append(f"阶段「{code}」的类型「{kind}」未知(可用:{'、'.join(STAGE_KINDS)})")
    numbers = {}
    for key, low in (("due_working_days", 1), ("remind_before", 0), ("quorum", 1)):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append(f"阶段「{code}」的 {key} 应为整数")
        elif value is not None and value < low:
            problems.append(f"阶段「{code}」的 {key} 不能小于 {low}")
        else:
            numbers[key] = value
    min_experts = raw.get("min_experts", 1)
    if not isinstance(min_experts, int) or isinstance(min_experts, bool) or min_experts < 1:
        problems.append(f"阶段「{code}」的 min_experts 应为不小于 1 的整数")
        min_experts = 1
    return StageDef(
        code=code,
        kind=kind,
        due_working_days=numbers.get("due_working_days"),
        remind_before=numbers.get("remind_before") if raw.get("remind_before") is not None else 1,
        escalate_to=_as_tuple(raw.get("escalate_to")),
        signers=_as_tuple(raw.get("signers")),
        rule=raw.get("rule"),
        quorum=numbers.get("quorum"),
        min_experts=min_experts,
    )


def _transition(raw: Any, index: int, problems: list[str]) -> TransitionDef | None:
    where = f"transitions 第 {index} 项"
    if not isinstance(raw, dict):
        problems.append(f"{where}:应为键值对")
        return None
    for key in sorted(set(raw) - TRANSITION_KEYS):
        problems.append(f"{where}:未知的键「{key}」")
    missing = [k for k in ("trigger", "from", "to") if not raw.get(k)]
    if missing:
        problems.append(f"{where}:缺少 {'、'.join(missing)}")
        return None
    if "roles" not in raw:
        problems.append(f"{where}:缺少 roles(系统自动执行的操作写 roles: [])")
        return None
    return TransitionDef(
        trigger=raw["trigger"],
        sources=_as_tuple(raw["from"]),
        dest=raw["to"],
        roles=_as_tuple(raw.get("roles")),
        guards=_as_tuple(raw.get("guards")),
        opinion=bool(raw.get("opinion", True)),
    )


def parse(data: Any, source: str) -> tuple[Definition | None, list[str]]:
    """The definition a YAML document describes, with the problems of its form (not its graph)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return None, ["文件内容应为一个键值对文档(name、version、stages、transitions)"]
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not name.strip():
        problems.append("缺少流程名称 name")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append("version 应为不小于 1 的整数")
    raw_stages, raw_transitions = data.get("stages"), data.get("transitions")
    if not isinstance(raw_stages, list) or not raw_stages:
        problems.append("缺少阶段列表 stages")
        raw_stages = []
    if not isinstance(raw_transitions, list) or not raw_transitions:
        problems.append("缺少流转列表 transitions")
        raw_transitions = []
    stages = [_stage(raw, i, problems) for i, raw in enumerate(raw_stages, start=1)]
    transitions = [_transition(raw, i, problems) for i, raw in enumerate(raw_transitions, start=1)]
    if problems:
        return None, problems
    return (
        Definition(
            name=name.strip(),
            version=version,
            title=str(data.get("title") or name),
            description=str(data.get("description") or ""),
            stages=tuple(s for s in stages if s is not None),
            transitions=tuple(t for t in transitions if t is not None),
            source=source,
        ),
        [],
    )


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def check(defn: Definition, *, guards: Iterable[str]) -> list[str]:
    """Every reason the definition cannot run: unknown names, unreachable stages, dead ends."""
    known_guards = set(guards)
    problems: list[str] = []
    codes = [s.code for s in defn.stages]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"阶段「{code}」重复定义")
    stages = {s.code: s for s in defn.stages}
    starts = [s.code for s in defn.stages if s.kind == "start"]
    if len(starts) != 1:
        problems.append(f"须有且只有一个起点阶段(kind: start),现有 {len(starts)} 个")
    if not any(s.kind == "final" for s in defn.stages):
        problems.append("没有终点阶段(kind: final)")
    for stage in defn.stages:
        for role in stage.escalate_to:
            if role not in vocab.ROLES:
                problems.append(f"阶段「{stage.code}」的 escalate_to 含未知角色「{role}」")
        if stage.kind == "countersign":
            if not stage.signers:
                problems.append(f"会签阶段「{stage.code}」没有 signers(签署人的角色)")
            for role in stage.signers:
                if role not in vocab.ROLES:
                    problems.append(f"会签阶段「{stage.code}」的 signers 含未知角色「{role}」")
            if stage.rule not in COUNTERSIGN_RULES:
                problems.append(
                    f"会签阶段「{stage.code}」的 rule 应为 {'、'.join(COUNTERSIGN_RULES)} 之一"
                )
            if stage.rule == "quorum" and not stage.quorum:
                problems.append(f"会签阶段「{stage.code}」为 quorum 时须写 quorum(几人签署)")
        elif stage.signers or stage.rule or stage.quorum:
            problems.append(f"阶段「{stage.code}」不是会签阶段,不能写 signers、rule 或 quorum")
    edges: dict[str, set[str]] = {}
    for t in defn.transitions:
        where = f"流转「{t.trigger}」({'、'.join(t.sources)} → {t.dest})"
        if t.trigger not in vocab.ACTIONS:
            problems.append(f"{where}:操作「{t.trigger}」未知(可用:{'、'.join(vocab.ACTIONS)})")
        for code in (*t.sources, t.dest):
            if code not in stages:
                problems.append(f"{where}:阶段「{code}」未在 stages 中定义")
        for role in t.roles:
            if role not in vocab.ROLES:
                problems.append(f"{where}:角色「{role}」未知(可用:{'、'.join(vocab.ROLES)})")
        for guard in t.guards:
            if guard not in known_guards:
                problems.append(
                    f"{where}:校验条件「{guard}」不存在(可用:{'、'.join(sorted(known_guards))})"
                )
        for source in t.sources:
            if source in stages and stages[source].kind == "final":
                problems.append(f"{where}:终点阶段「{source}」不能再流转")
            edges.setdefault(source, set()).add(t.dest)
    pairs = [(t.trigger, s) for t in defn.transitions for s in t.sources]
    for trigger, source in sorted({p for p in pairs if pairs.count(p) > 1}):
        problems.append(f"阶段「{source}」的操作「{trigger}」定义了不止一条流转,无法确定去向")
    if problems or len(starts) != 1:
        return problems
    reachable = _reachable(starts[0], edges)
    for stage in defn.stages:
        if stage.code not in reachable:
            problems.append(f"阶段「{stage.code}」从起点无法到达")
    finals = {s.code for s in defn.stages if s.kind == "final"}
    for stage in defn.stages:
        if stage.kind == "final":
            continue
        if not edges.get(stage.code):
            problems.append(f"阶段「{stage.code}」不是终点,却没有任何流转(死胡同)")
        elif not _reachable(stage.code, edges) & finals:
            problems.append(f"阶段「{stage.code}」无法到达任何终点")
    return problems


def load_file(path: Path, *, guards: Iterable[str]) -> Definition:
    """Read and check one definition file; DefinitionError lists what is wrong with it."""
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(source, [f"无法读取:{exc}"]) from exc
    defn, problems = parse(data, source)
    if defn is not None:
        problems = check(defn, guards=guards)
    if problems:
        raise DefinitionError(source, problems)
    return defn


def load_folder(folder: Path, *, guards: Iterable[str]) -> dict[tuple[str, int], Definition]:
    """Every definition of a folder by (name, version); all files' problems are reported at once."""
    guards = set(guards)
    found: dict[tuple[str, int], Definition] = {}
    errors: list[DefinitionError] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            defn = load_file(path, guards=guards)
        except DefinitionError as exc:
            errors.append(exc)
            continue
        if defn.key in found:
            errors.append(
                DefinitionError(
                    str(path),
                    [f"流程 {defn.name} 第 {defn.version} 版已在 {found[defn.key].source} 中定义"],
                )
            )
            continue
        found[defn.key] = defn
    if errors:
        raise DefinitionError(
            str(folder), [p for e in errors for p in [f"{e.source}:"] + e.problems]
        )
    return found
