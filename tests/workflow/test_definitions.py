"""Workflow definitions as data: loading rejects every kind of broken definition, names the problem
in Chinese, accepts the shipped ones; ``flask workflow check``; declarations keep their version.
"""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests import factories
from tests.workflow.conftest import COMMENT, audit_rows, has_chinese
from workflow import create_app, definitions, machine
from workflow.definitions import DefinitionError
from workflow.errors import NotPermitted

SHIPPED = {("default", 1), ("expert_review", 1), ("joint_signoff", 1)}


def good() -> dict:
    """A small valid definition: district review, a countersign by the city, a way back."""
    return {
        "name": "trial",
        "version": 1,
        "title": "试验流程",
        "stages": [
            {"code": "draft", "kind": "start"},
            {"code": "district_review", "kind": "approval", "due_working_days": 5},
            {
                "code": "joint_signoff",
                "kind": "countersign",
                "signers": ["city_reviewer", "manager"],
                "rule": "all",
            },
            {"code": "returned", "kind": "revision"},
            {"code": "approved", "kind": "final"},
            {"code": "withdrawn", "kind": "final"},
            {"code": "expired", "kind": "final"},
        ],
        "transitions": [
            {
                "trigger": "submit",
                "from": "draft",
                "to": "district_review",
                "roles": ["district_staff"],
                "guards": ["in_own_district", "is_complete"],
                "opinion": False,
            },
            {
                "trigger": "approve",
                "from": "district_review",
                "to": "joint_signoff",
                "roles": ["district_reviewer"],
                "guards": ["in_own_district"],
            },
            {
                "trigger": "return_for_revision",
                "from": ["district_review", "joint_signoff"],
                "to": "returned",
                "roles": ["district_reviewer", "city_reviewer"],
                "guards": ["has_comment"],
            },
            {
                "trigger": "approve",
                "from": "joint_signoff",
                "to": "approved",
                "roles": ["city_reviewer", "manager"],
            },
            {
                "trigger": "resubmit",
                "from": "returned",
                "to": "district_review",
                "roles": ["district_staff"],
            },
            {
                "trigger": "withdraw",
                "from": ["draft", "returned"],
                "to": "withdrawn",
                "roles": ["district_staff"],
            },
            {"trigger": "expire", "from": "draft", "to": "expired", "roles": []},
        ],
    }


def write(folder: Path, data, name: str = "trial.v1.yaml") -> Path:
    """Write a definition (a dict, or raw text) as a YAML file."""
    path = folder / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path) -> definitions.Definition:
    """Load one file with the guards the machine knows."""
    return definitions.load_file(path, guards=machine.GUARDS)


def stage(data: dict, code: str) -> dict:
    """The stage with this code in raw definition data."""
    return next(s for s in data["stages"] if s["code"] == code)


def row(data: dict, trigger: str, source: str) -> dict:
    """The transition of raw definition data for a trigger from a stage."""
    return next(
        t
        for t in data["transitions"]
        if t["trigger"] == trigger
        and source in ([t["from"]] if isinstance(t["from"], str) else t["from"])
    )


def _add(data: dict, *, stages=(), transitions=()) -> None:
    data["stages"].extend(stages)
    data["transitions"].extend(transitions)


def _set(getter: Callable[[dict], dict], key: str, value) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        getter(data)[key] = value

    return mutate


def _drop(getter: Callable[[dict], dict], key: str) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        del getter(data)[key]

    return mutate


def _dead_end(data: dict) -> None:
    _add(
        data,
        stages=[{"code": "city_review", "kind": "approval"}],
        transitions=[
            {
                "trigger": "reject",
                "from": "district_review",
                "to": "city_review",
                "roles": ["district_reviewer"],
            }
        ],
    )


def _unreachable(data: dict) -> None:
    _add(
        data,
        stages=[{"code": "city_review", "kind": "approval"}],
        transitions=[
            {
                "trigger": "approve",
                "from": "city_review",
                "to": "approved",
                "roles": ["city_reviewer"],
            }
        ],
    )


def _no_way_to_an_end(data: dict) -> None:
    # city_review and expert_review send the declaration to each other and nowhere else.
    _add(
        data,
        stages=[
            {"code": "city_review", "kind": "approval"},
            {"code": "expert_review", "kind": "expert_review"},
        ],
        transitions=[
            {
                "trigger": "reject",
                "from": "district_review",
                "to": "city_review",
                "roles": ["district_reviewer"],
            },
            {
                "trigger": "approve",
                "from": "city_review",
                "to": "expert_review",
                "roles": ["city_reviewer"],
            },
            {
                "trigger": "return_for_revision",
                "from": "expert_review",
                "to": "city_review",
                "roles": ["city_reviewer"],
            },
        ],
    )


def _two_rows_for_one_trigger(data: dict) -> None:
    _add(
        data,
        transitions=[
            {
                "trigger": "approve",
                "from": "district_review",
                "to": "approved",
                "roles": ["district_reviewer"],
            }
        ],
    )


def _moves_out_of_a_final_stage(data: dict) -> None:
    _add(
        data,
        transitions=[
            {
                "trigger": "record_rejection",
                "from": "approved",
                "to": "withdrawn",
                "roles": ["manager"],
            }
        ],
    )


def _no_final(data: dict) -> None:
    for code in ("approved", "withdrawn", "expired"):
        stage(data, code)["kind"] = "result"


def _first_stage_not_a_mapping(data: dict) -> None:
    data["stages"][0] = "draft"


def _no_trigger_nor_source(data: dict) -> None:
    approve = _approve(data)
    del approve["trigger"], approve["from"]


def _misspelt_guards(data: dict) -> None:
    submit = _submit(data)
    submit["gaurds"] = submit.pop("guards")


def _countersign(data: dict) -> dict:
    return stage(data, "joint_signoff")


def _district_review(data: dict) -> dict:
    return stage(data, "district_review")


def _submit(data: dict) -> dict:
    return row(data, "submit", "draft")


def _approve(data: dict) -> dict:
    return row(data, "approve", "district_review")


def _top(data: dict) -> dict:
    return data


# (what is broken, how, what the message must say)
BROKEN: list[tuple[str, Callable[[dict], None], list[str]]] = [
    # unknown names
    (
        "transition to an undefined stage",
        _set(_approve, "to", "limbo"),
        ["流转「approve」", "阶段「limbo」未在 stages 中定义"],
    ),
    (
        "stage the system does not know",
        _set(_district_review, "code", "limbo"),
        ["阶段「limbo」不是系统已知的阶段"],
    ),
    ("unknown stage kind", _set(_district_review, "kind", "vote"), ["类型「vote」未知"]),
    ("unknown trigger", _set(_submit, "trigger", "teleport"), ["操作「teleport」未知"]),
    ("unknown role", _set(_submit, "roles", ["janitor"]), ["角色「janitor」未知"]),
    ("unknown guard", _set(_submit, "guards", ["is_lucky"]), ["校验条件「is_lucky」不存在"]),
    (
        "unknown role to escalate to",
        _set(_district_review, "escalate_to", ["mayor"]),
        ["阶段「district_review」的 escalate_to 含未知角色「mayor」"],
    ),
    # the graph
    ("unreachable stage", _unreachable, ["阶段「city_review」从起点无法到达"]),
    ("dead end", _dead_end, ["阶段「city_review」不是终点,却没有任何流转(死胡同)"]),
    (
        "stages that cannot reach an end",
        _no_way_to_an_end,
        ["阶段「city_review」无法到达任何终点", "阶段「expert_review」无法到达任何终点"],
    ),
    (
        "two starts",
        _set(lambda d: stage(d, "returned"), "kind", "start"),
        ["须有且只有一个起点阶段(kind: start),现有 2 个"],
    ),
    (
        "no start",
        _set(lambda d: stage(d, "draft"), "kind", "approval"),
        ["须有且只有一个起点阶段(kind: start),现有 0 个"],
    ),
    ("no final stage", _no_final, ["没有终点阶段(kind: final)"]),
    (
        "stage defined twice",
        lambda d: d["stages"].append({"code": "returned", "kind": "revision"}),
        ["阶段「returned」重复定义"],
    ),
    (
        "one trigger with two destinations",
        _two_rows_for_one_trigger,
        ["阶段「district_review」的操作「approve」定义了不止一条流转,无法确定去向"],
    ),
    (
        "a final stage that moves on",
        _moves_out_of_a_final_stage,
        ["终点阶段「approved」不能再流转"],
    ),
    # countersign
    (
        "countersign without signers",
        _drop(_countersign, "signers"),
        ["会签阶段「joint_signoff」没有 signers"],
    ),
    (
        "countersign with an unknown signer role",
        _set(_countersign, "signers", ["city_reviewer", "mayor"]),
        ["会签阶段「joint_signoff」的 signers 含未知角色「mayor」"],
    ),
    (
        "countersign with a bad rule",
        _set(_countersign, "rule", "most"),
        ["会签阶段「joint_signoff」的 rule 应为 all、any、quorum 之一"],
    ),
    (
        "countersign without a rule",
        _drop(_countersign, "rule"),
        ["会签阶段「joint_signoff」的 rule 应为 all、any、quorum 之一"],
    ),
    (
        "quorum rule without its number",
        _set(_countersign, "rule", "quorum"),
        ["会签阶段「joint_signoff」为 quorum 时须写 quorum(几人签署)"],
    ),
    (
        "quorum of zero",
        _set(_countersign, "quorum", 0),
        ["阶段「joint_signoff」的 quorum 不能小于 1"],
    ),
    (
        "signers on an approval stage",
        _set(_district_review, "signers", ["city_reviewer"]),
        ["阶段「district_review」不是会签阶段,不能写 signers、rule 或 quorum"],
    ),
    (
        "a rule on an approval stage",
        _set(_district_review, "rule", "any"),
        ["阶段「district_review」不是会签阶段,不能写 signers、rule 或 quorum"],
    ),
    # numbers
    (
        "due days not a number",
        _set(_district_review, "due_working_days", "five"),
        ["阶段「district_review」的 due_working_days 应为整数"],
    ),
    (
        "due days of zero",
        _set(_district_review, "due_working_days", 0),
        ["阶段「district_review」的 due_working_days 不能小于 1"],
    ),
    (
        "no experts asked for",
        _set(_district_review, "min_experts", 0),
        ["阶段「district_review」的 min_experts 应为不小于 1 的整数"],
    ),
    # missing or misspelt keys
    ("no name", _drop(_top, "name"), ["缺少流程名称 name"]),
    ("no version", _drop(_top, "version"), ["version 应为不小于 1 的整数"]),
    ("version as text", _set(_top, "version", "1"), ["version 应为不小于 1 的整数"]),
    ("version zero", _set(_top, "version", 0), ["version 应为不小于 1 的整数"]),
    ("no stages", _drop(_top, "stages"), ["缺少阶段列表 stages"]),
    ("no transitions", _set(_top, "transitions", []), ["缺少流转列表 transitions"]),
    ("stage without code", _drop(_district_review, "code"), ["stages 第 2 项:缺少阶段代码 code"]),
    ("stage not a mapping", _first_stage_not_a_mapping, ["stages 第 1 项:应为键值对"]),
    ("transition without destination", _drop(_approve, "to"), ["transitions 第 2 项:缺少 to"]),
    (
        "transition without trigger and source",
        _no_trigger_nor_source,
        ["transitions 第 2 项:缺少 trigger、from"],
    ),
    (
        "transition without roles",
        _drop(_submit, "roles"),
        ["transitions 第 1 项:缺少 roles(系统自动执行的操作写 roles: [])"],
    ),
    (
        "misspelt transition key",
        _misspelt_guards,
        ["transitions 第 1 项:未知的键「gaurds」"],
    ),
    (
        "misspelt stage key",
        _set(_district_review, "due_days", 5),
        ["stages 第 2 项:未知的键「due_days」"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in BROKEN], ids=[what for what, _, _ in BROKEN]
)
def test_a_broken_definition_is_rejected_with_the_reason(tmp_path, mutate, expected):
    """Loading names the file and the problem, in Chinese."""
    data = good()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(DefinitionError) as caught:
        load(path)
    error = caught.value
    assert error.source == str(path)
    assert str(path) in str(error)
    for message in expected:
        assert any(message in problem for problem in error.problems), (message, error.problems)
    assert all(has_chinese(problem) for problem in error.problems)


def test_the_definition_the_broken_ones_start_from_is_good(tmp_path):
    """Each broken case is broken by its own change only."""
    defn = load(write(tmp_path, good()))
    assert defn.key == ("trial", 1)
    assert defn.start == "draft"
    assert defn.stage("joint_signoff").rule_label == "全部签署"
    assert set(defn.final_stages) == {"approved", "withdrawn", "expired"}


def test_every_problem_is_listed_at_once(tmp_path):
    """A definition with several mistakes lists all of them, not only the first."""
    data = good()
    _submit(data)["guards"] = ["is_lucky"]
    _approve(data)["roles"] = ["janitor"]
    _countersign(data)["rule"] = "most"
    with pytest.raises(DefinitionError) as caught:
        load(write(tmp_path, data))
    text = "\n".join(caught.value.problems)
    assert "「is_lucky」" in text and "「janitor」" in text and "rule 应为" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: trial\nstages: [unclosed\n", "无法读取"),
        ("name: trial\n  version: 1\n bad indent: [\n", "无法读取"),
        ("", "文件内容应为一个键值对文档"),
        ("- draft\n- approved\n", "文件内容应为一个键值对文档"),
    ],
    ids=["unclosed list", "bad indentation", "empty file", "a list, not a mapping"],
)
def test_a_file_that_is_not_a_definition_is_rejected(tmp_path, text, expected):
    """YAML syntax errors and documents of the wrong shape name the file and what is wrong."""
    path = write(tmp_path, text)
    with pytest.raises(DefinitionError) as caught:
        load(path)
    assert caught.value.source == str(path)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_the_same_name_and_version_in_two_files_is_rejected(tmp_path):
    """Two files may not both be 第 1 版 of one definition: which would run?"""
    first = write(tmp_path, good(), "a.yaml")
    second = write(tmp_path, good(), "b.yaml")
    with pytest.raises(DefinitionError) as caught:
        definitions.load_folder(tmp_path, guards=machine.GUARDS)
    text = str(caught.value)
    assert f"流程 trial 第 1 版已在 {first} 中定义" in text
    assert str(second) in text


def test_a_folder_reports_every_broken_file(tmp_path):
    """One broken file among good ones is named with its problem; good files do not hide it."""
    write(tmp_path, good(), "good.yaml")
    broken = good()
    broken["version"] = 2
    _submit(broken)["trigger"] = "teleport"
    bad = write(tmp_path, broken, "bad.yaml")
    also_bad = write(tmp_path, "name: [", "worse.yaml")
    with pytest.raises(DefinitionError) as caught:
        definitions.load_folder(tmp_path, guards=machine.GUARDS)
    problems = caught.value.problems
    assert f"{bad}:" in problems and f"{also_bad}:" in problems
    assert any("操作「teleport」未知" in p for p in problems)
    assert not any("good.yaml" in p for p in problems)


def test_versions_of_one_definition_live_side_by_side(tmp_path):
    """A new version is a new file next to the old one; both load."""
    write(tmp_path, good(), "trial.v1.yaml")
    newer = good()
    newer["version"] = 2
    write(tmp_path, newer, "trial.v2.yaml")
    found = definitions.load_folder(tmp_path, guards=machine.GUARDS)
    assert set(found) == {("trial", 1), ("trial", 2)}


# --- the shipped definitions -------------------------------------------------------------------


def test_the_shipped_definitions_load_and_pass_every_check():
    """The folder that ships loads, and each definition there has no problem."""
    found = definitions.load_folder(definitions.FOLDER, guards=machine.GUARDS)
    assert set(found) == SHIPPED
    for defn in found.values():
        assert definitions.check(defn, guards=machine.GUARDS) == []
        assert defn.title and has_chinese(defn.title)
    assert {w.definition.key for w in machine.all_workflows()} == SHIPPED


def test_the_shipped_definitions_have_the_stage_kinds_the_issue_asks_for():
    """Among them: a plain one, one with expert review, one with a countersign of N of M."""
    kinds = {w.name: {s.kind for s in w.definition.stages} for w in machine.all_workflows()}
    assert "countersign" not in kinds["default"] and "expert_review" not in kinds["default"]
    assert "expert_review" in kinds["expert_review"]
    signoff = machine.latest("joint_signoff").stage("joint_signoff")
    assert signoff.kind == "countersign" and signoff.rule == "quorum" and signoff.quorum == 2


def test_the_app_refuses_to_start_with_a_broken_definition(app_config, tmp_path):
    """A broken definition stops the app at start-up with every reason, not at a user's click."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    broken = good()
    _submit(broken)["guards"] = ["is_lucky"]
    write(folder, broken)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(definitions, "FOLDER", folder)
        machine._registry.cache_clear()
        with pytest.raises(DefinitionError, match="is_lucky"):
            create_app(app_config)
    machine._registry.cache_clear()


# --- flask workflow check ----------------------------------------------------------------------


def test_check_passes_the_shipped_folder(app):
    """Without FILE the command checks the shipped definitions and names each."""
    result = app.test_cli_runner().invoke(args=["workflow", "check"])
    assert result.exit_code == 0, result.output
    for name, version in SHIPPED:
        assert f"通过:{name} 第 {version} 版" in result.stdout
    assert result.stderr == ""


def test_check_passes_a_good_file(app, tmp_path):
    """A good file exits 0 with its name and title."""
    path = write(tmp_path, good())
    result = app.test_cli_runner().invoke(args=["workflow", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"通过:trial 第 1 版「试验流程」({path})" in result.stdout


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_set(_submit, "guards", ["is_lucky"]), "校验条件「is_lucky」不存在"),
        (_dead_end, "死胡同"),
        (_drop(_countersign, "signers"), "没有 signers"),
    ],
    ids=["unknown guard", "dead end", "countersign without signers"],
)
def test_check_fails_a_bad_file_with_the_reason(app, tmp_path, mutate, reason):
    """A bad file exits non-zero; the reason and the file are on stderr."""
    data = good()
    mutate(data)
    path = write(tmp_path, data)
    result = app.test_cli_runner().invoke(args=["workflow", "check", str(path)])
    assert result.exit_code == 1
    assert "流程定义有误" in result.stderr
    assert str(path) in result.stderr and reason in result.stderr
    assert "通过" not in result.stdout


def test_check_fails_a_file_that_is_not_yaml(app, tmp_path):
    """A YAML syntax error is a reason too."""
    path = write(tmp_path, "name: [unclosed\n")
    result = app.test_cli_runner().invoke(args=["workflow", "check", str(path)])
    assert result.exit_code == 1
    assert "无法读取" in result.stderr


def test_check_fails_a_missing_file(app, tmp_path):
    """A path that does not exist is a usage error, not a pass."""
    result = app.test_cli_runner().invoke(
        args=["workflow", "check", str(tmp_path / "missing.yaml")]
    )
    assert result.exit_code == 2
    assert "missing.yaml" in result.stderr


def test_check_fails_the_folder_when_one_file_is_broken(app, tmp_path, monkeypatch):
    """Without FILE, a broken file in the definitions folder fails the check, named."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    for path in definitions.FOLDER.glob("*.yaml"):
        shutil.copy(path, folder)
    broken = write(folder, "name: [", "default.v2.yaml")
    monkeypatch.setattr(definitions, "FOLDER", folder)
    result = app.test_cli_runner().invoke(args=["workflow", "check"])
    assert result.exit_code == 1
    assert str(broken) in result.stderr and "无法读取" in result.stderr


# --- a declaration keeps the version it started with ------------------------------------------


@pytest.fixture
def definitions_folder(app, tmp_path) -> Iterator[Path]:
    """A copy of the shipped definitions the test may add to; the registry reads it afresh."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    for path in definitions.FOLDER.glob("*.yaml"):
        shutil.copy(path, folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(definitions, "FOLDER", folder)
        machine._registry.cache_clear()
        yield folder
    # Read again, from the shipped folder, by whoever asks next.
    machine._registry.cache_clear()


def default_v2() -> dict:
    """The default definition's next version: the city reviews first, no district review."""
    data = yaml.safe_load((definitions.FOLDER / "default.v1.yaml").read_text(encoding="utf-8"))
    data["version"] = 2
    data["title"] = "标准流程(免区县初审)"
    data["stages"] = [s for s in data["stages"] if s["code"] != "district_review"]
    kept = []
    for t in data["transitions"]:
        sources = [t["from"]] if isinstance(t["from"], str) else t["from"]
        if "district_review" in sources:
            continue
        if t["to"] == "district_review":
            t = {**t, "to": "city_review"}
        kept.append(t)
    data["transitions"] = kept
    return data


def test_a_declaration_keeps_its_workflow_version(world, definitions_folder):
    """After 第 2 版 appears, a declaration made before follows 第 1 版; a new one 第 2 版."""
    old = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    assert (old.workflow_name, old.workflow_version) == ("default", 1)

    write(definitions_folder, default_v2(), "default.v2.yaml")
    machine._registry.cache_clear()
    assert machine.latest("default").version == 2
    assert machine.workflow_names()["default"] == "标准流程(免区县初审)"

    new = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    assert (new.workflow_name, new.workflow_version) == ("default", 2)

    factories.act(old, "submit", world.staff)
    factories.act(new, "submit", world.staff)
    assert old.stage == "district_review"  # 第 1 版: the district reviews first
    assert new.stage == "city_review"  # 第 2 版: straight to the city
    assert [r.after["stage"] for r in audit_rows(new.id) if r.action == "submit"] == ["city_review"]

    # The old declaration goes on under 第 1 版, whose rows 第 2 版 no longer has.
    factories.act(old, "approve", world.reviewer, comment=COMMENT)
    assert old.stage == "city_review"
    with pytest.raises(NotPermitted):
        factories.act(new, "approve", world.reviewer, comment=COMMENT)
    factories.act(new, "approve", world.city, comment=COMMENT)
    assert new.stage == "recommended"
    assert machine.workflow_for(old).version == 1
    assert machine.workflow_for(new).version == 2


def test_a_declaration_whose_version_disappeared_says_so(world, definitions_folder):
    """Removing a version declarations still use is a clear error, not a silent switch."""
    decl = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    write(definitions_folder, default_v2(), "default.v2.yaml")
    (definitions_folder / "default.v1.yaml").unlink()
    machine._registry.cache_clear()
    with pytest.raises(LookupError, match="使用的流程 default 第 1 版不存在"):
        machine.workflow_for(decl)
