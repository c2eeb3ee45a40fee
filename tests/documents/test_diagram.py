"""Workflow diagrams: every shipped definition drawn by Graphviz, the current stage marked."""

import re
import stat

import pytest

from documents import diagram as drawing
from tests.views.html import has_cjk, parse
from workflow import diagram, machine

WORKFLOWS = machine.all_workflows()


def _svg_tree(svg: str):
    tree = parse(svg)
    assert tree.find("svg") is not None, svg[:200]
    return tree


def _texts(group) -> list[str]:
    return [t.text for t in group.find_all("text")]


def _nodes(tree) -> dict[str, object]:
    return {
        g.attrs["id"].removeprefix("stage-"): g
        for g in tree.find_all("g", class_="node")
        if g.attrs.get("id", "").startswith("stage-")
    }


@pytest.fixture
def fresh_cache():
    """Each test draws its own pictures; nothing it changes outlives it."""
    diagram.clear_cache()
    yield
    diagram.clear_cache()


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: f"{w.name}.v{w.version}")
def test_every_stage_and_every_transition_of_a_shipped_definition_is_drawn(workflow, fresh_cache):
    tree = _svg_tree(diagram.workflow_svg(workflow))
    nodes = _nodes(tree)
    assert set(nodes) == {s.code for s in workflow.definition.stages}
    for stage in workflow.definition.stages:
        note = diagram.stage_note(stage)
        assert _texts(nodes[stage.code]) == [stage.label] + ([note] if note else [])
    edges = tree.find_all("g", class_="edge")
    drawn = sorted(" ".join(_texts(e)) for e in edges)
    expected = sorted(
        diagram.step_label(workflow, step, source)
        for step in workflow.steps
        for source in step.sources
    )
    assert drawn == expected
    for step in workflow.steps:
        assert any(step.label in label for label in drawn), step.trigger
    # The Chinese is laid out with the CJK font the server has.
    assert 'font-family="Noto Sans CJK SC"' in diagram.workflow_svg(workflow)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: f"{w.name}.v{w.version}")
def test_finals_are_double_bordered_and_system_steps_dashed(workflow, fresh_cache):
    tree = _svg_tree(diagram.workflow_svg(workflow))
    for code, node in _nodes(tree).items():
        borders = len(node.find_all("path")) + len(node.find_all("polygon"))
        assert borders == (2 if code in workflow.definition.final_stages else 1), code
    system = [e for e in tree.find_all("g", class_="edge") if "system" in e.classes]
    assert len(system) == sum(len(s.sources) for s in workflow.steps if s.is_system) >= 1
    for edge in system:
        assert "stroke-dasharray" in edge.find("path").attrs
        assert "(系统)" in " ".join(_texts(edge))
    others = [e for e in tree.find_all("g", class_="edge") if "system" not in e.classes]
    assert all("stroke-dasharray" not in e.find("path").attrs for e in others)


def test_the_current_stage_is_marked_and_only_it(fresh_cache):
    workflow = machine.get("joint_signoff", 1)
    marked = _nodes(_svg_tree(diagram.workflow_svg(workflow, "joint_signoff")))
    assert "current" in marked["joint_signoff"].classes
    assert _texts(marked["joint_signoff"])[0] == "联合会签(当前)"
    assert marked["joint_signoff"].find("path").attrs["fill"] == "#fde68a"
    assert [c for c, n in marked.items() if "current" in n.classes] == ["joint_signoff"]
    plain = _nodes(_svg_tree(diagram.workflow_svg(workflow)))
    assert not [c for c, n in plain.items() if "current" in n.classes]
    # A stage the workflow does not have marks nothing (and adds no picture to the cache).
    assert diagram.workflow_svg(workflow, "no_such_stage") is diagram.workflow_svg(workflow)


def test_countersign_and_expert_stages_say_their_rule_on_the_second_line(fresh_cache):
    joint = machine.get("joint_signoff", 1)
    assert diagram.stage_note(joint.stage("joint_signoff")) == (
        "会签:市级审核员、管理人员,2 人签署即可 · 5 个工作日"
    )
    expert = machine.get("expert_review", 1)
    assert diagram.stage_note(expert.stage("expert_review")) == (
        "专家评审 · 至少 2 位专家评分 · 10 个工作日"
    )
    assert diagram.stage_note(expert.stage("draft")) == "起点"
    assert diagram.stage_note(expert.stage("returned")) == ""  # not 退回修改 twice
    edges = " ".join(
        " ".join(_texts(e))
        for e in _svg_tree(diagram.workflow_svg(joint)).find_all("g", class_="edge")
    )
    assert "通过(2 人签署即可)" in edges


def test_a_picture_is_drawn_once_per_version_and_stage(fresh_cache, monkeypatch):
    drawn = []
    real = drawing.render_svg

    def counting(dot_text, **kwargs):
        drawn.append(dot_text)
        return real(dot_text, **kwargs)

    monkeypatch.setattr(drawing, "render_svg", counting)
    workflow = machine.get("default", 1)
    first = diagram.workflow_svg(workflow, "city_review")
    assert diagram.workflow_svg(workflow, "city_review") is first
    diagram.workflow_svg(workflow, "draft")
    assert len(drawn) == 2


def test_every_guard_has_a_chinese_name():
    assert set(machine.GUARDS) <= set(diagram.GUARD_LABELS)
    assert all(has_cjk(label) for label in diagram.GUARD_LABELS.values())


def test_labels_cannot_break_out_of_their_dot_string():
    hostile = 'x" ]; evil [label="y\\" onload="alert(1)'
    shape = drawing.Diagram(
        "t",
        (drawing.Node("a", hostile), drawing.Node("b", "<b>&")),
        (drawing.Edge("a", "b", "go"),),
    )
    svg = drawing.render_svg(drawing.to_dot(shape))
    tree = _svg_tree(svg)
    nodes = _nodes(tree)
    assert set(nodes) == {"a", "b"}
    assert _texts(nodes["a"]) == [hostile]
    assert _texts(nodes["b"]) == ["<b>&"]
    assert "onload" not in {k for n in tree.iter() for k in n.attrs}


def _fake_dot(tmp_path, body: str) -> str:
    script = tmp_path / "fake-dot"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_missing_graphviz_is_named_with_the_package_to_install():
    with pytest.raises(drawing.DiagramError, match="未找到 Graphviz.*graphviz"):
        drawing.render_svg("digraph { a }", program="/nonexistent/dot")


def test_dot_refusing_the_text_says_what_dot_said():
    with pytest.raises(drawing.DiagramError, match=r"Graphviz 生成流程图失败:.*syntax error"):
        drawing.render_svg("digraph { a -> }")


def test_a_slow_dot_is_stopped(tmp_path):
    with pytest.raises(drawing.DiagramError, match=re.escape("超时(超过 0.5 秒)")):
        drawing.render_svg("digraph { a }", program=_fake_dot(tmp_path, "sleep 5"), timeout=0.5)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("<svg><script>alert(1)</script></svg>", "不允许嵌入"),
        ('<svg onload="alert(1)"></svg>', "不允许嵌入"),
        ('<svg><a href="https://example.com/x"><text>x</text></a></svg>', "不允许嵌入"),
        ("<svg><g></svg>", "不允许嵌入"),
        ("nothing drawn", "没有输出 SVG"),
    ],
)
def test_an_svg_that_is_not_ours_is_never_embedded(tmp_path, output, message):
    program = _fake_dot(tmp_path, f"cat > /dev/null; printf '%s' '{output}'")
    with pytest.raises(drawing.DiagramError, match=message):
        drawing.render_svg("digraph { a }", program=program)


def test_a_failure_reaches_the_caller_and_is_not_cached(fresh_cache, monkeypatch):
    workflow = machine.get("default", 1)
    monkeypatch.setattr(diagram, "DOT_PROGRAM", "/nonexistent/dot")
    with pytest.raises(drawing.DiagramError):
        diagram.workflow_svg(workflow)
    monkeypatch.setattr(diagram, "DOT_PROGRAM", "dot")
    assert "<svg" in diagram.workflow_svg(workflow)


def test_the_svg_is_ready_to_embed():
    svg = diagram.workflow_svg(machine.get("default", 1))
    assert svg.startswith('<svg class="workflow-svg" role="img" aria-label="标准流程(第 1 版)"')
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<!--" not in svg
    assert "<title>" not in svg  # no code names (city_review) shown on hover
