"""Charts as self-contained SVG, the same on a page and in a WeasyPrint PDF.

pygal draws them; what it adds for its browser scripts is taken out again: the inline config
``<script>``, the comments with its URLs and the render date, and the random chart id (replaced
by a digest of the title and data), so the same data always gives byte-identical SVG and a PDF
made twice from the same figures does not differ. Tooltips are SVG ``<title>`` elements, which
browsers show without any script.
"""

import hashlib
import json
import math
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

import pygal
from markupsafe import Markup
from pygal.style import Style

# pygal appends a finder for its map plugins (unused here) to sys.meta_path that has no
# find_spec(): every import that fails elsewhere (an optional dependency probed with try/except)
# then raises an ImportWarning, an error under the tests' -W error.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

Number = int | float | Decimal
FONT = '"Noto Sans CJK SC", "Noto Sans CJK", sans-serif'
WIDTH = 640
HEIGHT = 320
# Horizontal bars get this much height per label, so ten districts stay legible on A4.
ROW_HEIGHT = 26
MAX_HEIGHT = 720
EMPTY_TEXT = "暂无数据"
MARGIN = 12
# The app's palette (static/css/app.css): blue, green, amber, violet, teal, red, grey.
COLORS = ("#1d4ed8", "#15803d", "#d97706", "#7c3aed", "#0f766e", "#b91c1c", "#6b7280")
STYLE_OPTIONS = dict(
    font_family=FONT,
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#d9dee5",
    colors=COLORS,
    opacity="0.9",
    opacity_hover="1",
    title_font_size=15,
    legend_font_size=12,
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=11,
    tooltip_font_size=12,
    no_data_font_size=18,
)
STYLE = Style(**STYLE_OPTIONS)
SVG_NS = "http://www.w3.org/2000/svg"


# --- numbers as Chinese pages write them ------------------------------------------------------


def format_value(value: Number | None, unit: str = "") -> str:
    """A value with its unit: 万元 to two decimals, % to one, anything else a whole count."""
    if value is None:
        return "—"
    value = Decimal(str(value))
    if unit == "万元":
        return f"{value:,.2f}万元"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value.quantize(Decimal(1), ROUND_HALF_UP):,f}{unit}"


def _axis_label(value: float, unit: str) -> str:
    """A tick on the value axis: the number only (the unit is in the title), % kept."""
    if unit == "%":
        return f"{value:g}%"
    if unit == "万元" and value != int(value):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _nice_step(top: float, ticks: int, whole: bool) -> float:
    """A round step (1, 2 or 5 × 10ⁿ) that covers top in about ``ticks`` steps."""
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        step = factor * power
        if step >= raw:
            break
    return max(step, 1) if whole else step


def _y_labels(values: list[float], unit: str, *, ticks: int = 5) -> list[dict]:
    """The value axis ticks from zero to a round number above the largest value."""
    top = max(values, default=0) or 1
    if unit == "%":
        top = max(top, 100)  # rates read against the full scale
    whole = unit not in ("万元", "%")
    step = _nice_step(top, ticks, whole)
    count = math.ceil(top / step - 1e-9)
    return [{"label": _axis_label(i * step, unit), "value": i * step} for i in range(count + 1)]


# --- the SVG itself ---------------------------------------------------------------------------


def _digest(kind: str, title: str, labels: Sequence[str], series: dict, options: dict) -> str:
    payload = json.dumps(
        [kind, title, list(labels), {k: [str(v) for v in vs] for k, vs in series.items()}, options],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _clean(root: ET.Element, series_names: list[str]) -> ET.Element:
    """Drop scripts and comments; give each bar and dot a <title> tooltip."""
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag is ET.Comment or _tag(child) == "script":
                parent.remove(child)
    for group in root.iter():
        classes = (group.get("class") or "").split()
        index = next((c[len("serie-") :] for c in classes if c.startswith("serie-")), None)
        if index is None or not index.isdigit() or int(index) >= len(series_names):
            continue
        for node in group.iter():
            descs = {d.get("class"): d.text for d in node if _tag(d) == "desc"}
            if "value" not in descs:
                continue
            label = descs.get("x_label")
            name = series_names[int(index)]
            title = ET.SubElement(node, "title")
            head = "·".join(part for part in (label, name) if part)
            title.text = f"{head}:{descs['value']}" if head else descs["value"]
    return root


def _render(chart, title: str, digest: str, series_names: list[str]) -> Markup:
    chart.uuid = digest  # pygal's random id would make every rendering differ
    root = _clean(chart.render_tree(), series_names)
    root.set("role", "img")
    root.set("aria-label", title)
    return Markup(ET.tostring(root, encoding="unicode"))


def _text_width(text: str, size: float) -> float:
    """How wide text is drawn: Chinese characters take a full em, others about 0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else 0.6 * size for ch in text)


def _wide_extra(texts: Sequence[str], size: float) -> float:
    """What pygal's estimate (0.6 em a character) misses of the widest text."""
    return max((_text_width(t, size) - 0.6 * size * len(t) for t in texts), default=0.0)


def _layout(labels: Sequence[str], names: Sequence[str], *, horizontal: bool) -> dict:
    """Margins, label rotation and legend columns that keep Chinese labels inside the frame.

    pygal sizes its margins for Latin text, and reserves legend rows as ``series // columns``
    (rounded down): both are corrected here rather than patched inside pygal.
    """
    size = STYLE.label_font_size
    margin_left = margin_bottom = MARGIN
    rotation = 0
    if horizontal:
        margin_left += _wide_extra(labels, size)
    else:
        slot = (WIDTH - 90) / max(len(labels), 1)
        if max((_text_width(t, size) for t in labels), default=0) > slot * 0.95:
            rotation = 30
            margin_bottom += _wide_extra(labels, size) * math.sin(math.radians(rotation))
    columns = rows = 1
    if len(names) > 1:
        columns = len(names) if len(names) <= 6 else math.ceil(len(names) / 2)
        rows = math.ceil(len(names) / columns)
        reserved = len(names) // columns
        margin_bottom += (rows - reserved) * 1.5 * STYLE.legend_font_size
    return {
        "margin_left": round(margin_left),
        "margin_bottom": round(margin_bottom),
        "x_label_rotation": rotation,
        "legend_at_bottom_columns": columns,
        "show_legend": len(names) > 1,
    }


def _style(colors: Sequence[str] | None) -> Style:
    """The house style, with the series' own colours when they carry a meaning."""
    return Style(**{**STYLE_OPTIONS, "colors": tuple(colors)}) if colors else STYLE


def _config(title: str, *, height: int = HEIGHT, colors: Sequence[str] | None = None, **extra):
    config = dict(
        title=title,
        style=_style(colors),
        width=WIDTH,
        height=height,
        js=[],
        disable_xml_declaration=True,
        legend_at_bottom=True,
        legend_box_size=10,
        margin=MARGIN,
        spacing=8,
        truncate_label=-1,
        truncate_legend=-1,
        no_data_text=EMPTY_TEXT,
    )
    config.update(extra)
    return config


def _has_data(labels: Sequence[str], series: dict[str, list[Number | None]]) -> bool:
    return bool(labels) and any(v for values in series.values() for v in values)


def empty_chart(title: str, text: str = EMPTY_TEXT) -> Markup:
    """A small frame with the title and a line saying there is nothing to draw."""
    # Drawn by hand: pygal's own no-data chart keeps an empty 0–1 axis, which reads as data.
    root = ET.Element(
        "svg",
        xmlns=SVG_NS,
        id=f"chart-{_digest('empty', title, [], {}, {'text': text})}",
        viewBox=f"0 0 {WIDTH} 120",
        role="img",
        **{"class": "pygal-chart chart-empty", "aria-label": f"{title}:{text}"},
    )
    ET.SubElement(root, "title").text = f"{title}:{text}"
    ET.SubElement(
        root,
        "rect",
        x="0.5",
        y="0.5",
        width=str(WIDTH - 1),
        height="119",
        fill="#ffffff",
        stroke="#d9dee5",
    )
    for y, size, fill, content in ((30, 15, "#1f2933", title), (78, 14, "#6b7280", text)):
        ET.SubElement(
            root,
            "text",
            x=str(WIDTH // 2),
            y=str(y),
            fill=fill,
            **{"font-family": FONT, "font-size": str(size), "text-anchor": "middle"},
        ).text = content
    return Markup(ET.tostring(root, encoding="unicode"))


def _floats(values: list[Number | None]) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, list[Number | None]],
    *,
    unit: str = "",
    stacked: bool = False,
    horizontal: bool = False,
    empty_text: str = EMPTY_TEXT,
    colors: Sequence[str] | None = None,
) -> Markup:
    """Bars of one or more series over the labels; values read with the unit (万元, %, 项).

    ``colors`` gives each series its colour (e.g. yellow and red warnings); the house palette
    otherwise.
    """
    if not _has_data(labels, series):
        return empty_chart(title, empty_text)
    options = {"unit": unit, "stacked": stacked, "horizontal": horizontal, "colors": colors}
    digest = _digest("bar", title, labels, series, options)
    if stacked:
        totals = [sum(float(vs[i] or 0) for vs in series.values()) for i in range(len(labels))]
    else:
        totals = [float(v or 0) for vs in series.values() for v in vs]
    height = HEIGHT
    if horizontal:
        # Side-by-side bars of several series need a taller row than one bar or a stack.
        row = ROW_HEIGHT if stacked or len(series) == 1 else 8 + 14 * len(series)
        height = min(MAX_HEIGHT, max(HEIGHT, 110 + row * len(labels)))
    kind = {
        (False, False): pygal.Bar,
        (True, False): pygal.StackedBar,
        (False, True): pygal.HorizontalBar,
        (True, True): pygal.HorizontalStackedBar,
    }[(stacked, horizontal)]
    single = len(series) == 1
    chart = kind(
        **_config(
            title,
            height=height,
            colors=colors,
            value_formatter=lambda v: format_value(v, unit),
            y_labels=_y_labels(totals, unit),
            # One series of few bars: print the values on them, a PDF has no tooltips.
            print_values=single and len(labels) <= 12,
            print_values_position="top",
            **_layout(labels, list(series), horizontal=horizontal),
        )
    )
    # pygal draws horizontal bars bottom-up; reversed, the first label reads at the top.
    order = slice(None, None, -1) if horizontal else slice(None)
    chart.x_labels = list(labels)[order]
    for name, values in series.items():
        chart.add(name, _floats(list(values))[order])
    return _render(chart, title, digest, list(series))


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, list[Number | None]],
    *,
    unit: str = "%",
    empty_text: str = EMPTY_TEXT,
) -> Markup:
    """Lines of one or more series over the labels (months); None leaves a gap."""
    if not labels or all(v is None for values in series.values() for v in values):
        return empty_chart(title, empty_text)
    digest = _digest("line", title, labels, series, {"unit": unit})
    values = [float(v) for vs in series.values() for v in vs if v is not None]
    chart = pygal.Line(
        **_config(
            title,
            value_formatter=lambda v: format_value(v, unit),
            y_labels=_y_labels(values, unit),
            **_layout(labels, list(series), horizontal=False),
            dots_size=3,
            stroke_style={"width": 2},
            allow_interruptions=True,
        )
    )
    chart.x_labels = list(labels)
    for name, vs in series.items():
        chart.add(name, _floats(vs))
    return _render(chart, title, digest, list(series))
