"""Workflow diagrams: plain nodes and edges in, Graphviz DOT text and an inline SVG out.

The SVG is drawn on the server by Graphviz's ``dot`` (Debian package ``graphviz``), so a page
shows the diagram without JavaScript or anything fetched from the internet. Labels are laid out
with the Noto CJK font the dossiers use, so Chinese text gets the room it needs.
"""

from __future__ import annotations

import html
import re
import subprocess
from dataclasses import dataclass
from xml.etree import ElementTree

__all__ = [
    "FONT",
    "Diagram",
    "DiagramError",
    "Edge",
    "Node",
    "embeddable",
    "render_svg",
    "to_dot",
]

FONT = "Noto Sans CJK SC"
DEFAULT_TIMEOUT = 10  # seconds; a diagram of a dozen stages takes well under one

_COLOURS = {
    "line": "#6b7280",
    "text": "#1f2933",
    "fill": "#ffffff",
    "start": "#eef1f5",
    "final": "#f3f4f6",
    "current_fill": "#fde68a",
    "current_line": "#b45309",
}
# What an SVG drawn from our own definitions never contains; if it ever did, we refuse to embed it.
_UNSAFE_ELEMENTS = frozenset({"script", "foreignobject", "iframe", "object", "embed", "use"})
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TITLE = re.compile(r"<title>.*?</title>\n?", re.S)


class DiagramError(Exception):
    """Graphviz could not draw the diagram; the message says why, in Chinese."""


@dataclass(frozen=True)
class Node:
    """One stage: a name, a second line (its kind, rule or time limit), and how it looks."""

    id: str
    label: str
    note: str = ""
    start: bool = False
    final: bool = False
    current: bool = False
    kind: str = ""


@dataclass(frozen=True)
class Edge:
    """One transition from a stage to a stage; a system step is drawn dashed."""

    source: str
    dest: str
    label: str
    system: bool = False


@dataclass(frozen=True)
class Diagram:
    """A whole diagram: its title (for screen readers), its nodes and its edges."""

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _quote(text: str) -> str:
    """A DOT double-quoted string; backslashes are escaped so no label can inject an escape."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**values: str | int | float) -> str:
    return ", ".join(f"{key}={_quote(str(value))}" for key, value in values.items())


def _node(node: Node) -> str:
    label = node.label + (f"\n{node.note}" if node.note else "")
    classes = ["stage", f"kind-{node.kind}" if node.kind else "", "current" if node.current else ""]
    attrs: dict[str, str | int | float] = {
        "id": f"stage-{node.id}",
        "class": " ".join(c for c in classes if c),
        "label": label,
    }
    if node.start:
        attrs["fillcolor"] = _COLOURS["start"]
    if node.final:
        attrs["peripheries"] = 2
        attrs["fillcolor"] = _COLOURS["final"]
    if node.current:
        attrs.update(
            fillcolor=_COLOURS["current_fill"], color=_COLOURS["current_line"], penwidth=2.5
        )
        attrs["label"] = f"{node.label}(当前)" + (f"\n{node.note}" if node.note else "")
    return f"  {_quote(node.id)} [{_attrs(**attrs)}];"


def _edge(edge: Edge) -> str:
    attrs: dict[str, str | int | float] = {
        "class": "transition system" if edge.system else "transition",
        "label": edge.label,
    }
    if edge.system:
        attrs["style"] = "dashed"
    return f"  {_quote(edge.source)} -> {_quote(edge.dest)} [{_attrs(**attrs)}];"


def to_dot(diagram: Diagram) -> str:
    """The diagram as Graphviz DOT text, top to bottom."""
    font = _quote(FONT)
    lines = [
        f"digraph {_quote(diagram.title)} {{",
        f"  graph [rankdir=TB, bgcolor=transparent, fontname={font}, nodesep=0.35, ranksep=0.45];",
        f'  node [shape=box, style="rounded,filled", fontname={font}, fontsize=12, '
        f"color={_quote(_COLOURS['line'])}, fillcolor={_quote(_COLOURS['fill'])}, "
        f'fontcolor={_quote(_COLOURS["text"])}, margin="0.15,0.06"];',
        f"  edge [fontname={font}, fontsize=10, color={_quote(_COLOURS['line'])}, "
        f"fontcolor={_quote(_COLOURS['text'])}, arrowsize=0.7];",
    ]
    lines += [_node(n) for n in diagram.nodes]
    lines += [_edge(e) for e in diagram.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot_text: str, *, program: str = "dot", timeout: float = DEFAULT_TIMEOUT) -> str:
    """Draw DOT text with Graphviz; the ``<svg>`` element only, ready to embed in a page."""
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DiagramError(
            f"未找到 Graphviz 的 {program} 程序,无法生成流程图"
            "(请安装 Debian 软件包 graphviz,见 scripts/system-packages.sh)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise DiagramError(f"Graphviz 生成流程图超时(超过 {timeout:g} 秒)") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"退出码 {done.returncode}"
        raise DiagramError(f"Graphviz 生成流程图失败:{reason}")
    svg = done.stdout.decode("utf-8", "replace")
    start = svg.find("<svg")
    if start < 0:
        raise DiagramError("Graphviz 没有输出 SVG 图形")
    # The XML prolog and DOCTYPE do not belong inside an HTML page; the comments say nothing.
    svg = _COMMENT.sub("", svg[start:]).strip()
    if not _is_inert(svg):
        raise DiagramError("生成的流程图含有不允许嵌入页面的内容")
    return svg


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def _is_inert(svg: str) -> bool:
    """Whether the SVG is only shapes and text: no scripts, event handlers or outside links."""
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError:
        return False
    for element in root.iter():
        if _local(element.tag) in _UNSAFE_ELEMENTS:
            return False
        for name, value in element.attrib.items():
            if _local(name).startswith("on"):
                return False
            if _local(name) == "href" and not value.startswith("#"):
                return False
    return True


def embeddable(svg: str, title: str) -> str:
    """The SVG sized to its container and labelled for screen readers.

    Graphviz gives every shape a <title> with its code name (``city_review``), which browsers
    show on hover; a Chinese page should not, and the boxes already say it in Chinese.
    """
    label = html.escape(title, quote=True)
    svg = _TITLE.sub("", svg)
    return svg.replace(
        "<svg",
        f'<svg class="workflow-svg" role="img" aria-label="{label}" '
        'style="max-width: 100%; height: auto"',
        1,
    )
