"""Charts as SVG: self-contained, identical for identical data, readable in Chinese, printable."""

import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from pypdf import PdfReader

from documents.pdf import html_to_pdf
from workflow import charts

D = Decimal
DISTRICTS = ["盐都区", "亭湖区", "盐城经济技术开发区"]


def _money_chart(**overrides):
    values = {
        "申请": [D("1234.5"), D(300), D(0)],
        "下达": [D(1000), D(280), None],
    }
    values.update(overrides)
    return charts.bar_chart("各区县资金(万元)", DISTRICTS, values, unit="万元")


def _every_chart():
    return {
        "bar": charts.bar_chart(
            "各阶段申报数量", ["草稿", "已获批"], {"申报数": [3, 2]}, unit="项"
        ),
        "money": _money_chart(),
        "stacked": charts.bar_chart(
            "各区县申报数量",
            DISTRICTS,
            {"审核中": [1, 2, 0], "已获批": [2, 0, 1]},
            unit="项",
            stacked=True,
            horizontal=True,
        ),
        "line": charts.line_chart(
            "四率变化趋势", ["2026年4月", "5月", "6月"], {"开工率": [None, 50, D("66.7")]}
        ),
        "empty": charts.bar_chart("逾期未报", [], {}),
    }


def _texts(svg: str) -> list[str]:
    """Every text a reader sees drawn in the chart (not tooltips)."""
    root = ET.fromstring(svg)
    return [
        "".join(node.itertext()).strip()
        for node in root.iter()
        if node.tag.rsplit("}", 1)[-1] == "text"
    ]


def _tooltips(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [node.text for node in root.iter() if node.tag.rsplit("}", 1)[-1] == "title"]


@pytest.mark.parametrize("kind", ["bar", "money", "stacked", "line", "empty"])
def test_a_chart_has_no_script_and_fetches_nothing(kind):
    svg = str(_every_chart()[kind])
    assert "<script" not in svg.lower()
    assert "<!--" not in svg
    # The SVG namespace is a name, not a fetch; nothing else may point outside the page.
    outside = svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http" not in outside and "//" not in outside.replace("://", "")
    assert "googleapis" not in svg and "url(" not in svg
    assert ET.fromstring(svg).get("viewBox").startswith("0 0 640 ")


def test_the_same_data_gives_the_same_bytes_and_other_data_other_bytes():
    first, second = _every_chart(), _every_chart()
    assert first == second
    other = _money_chart(下达=[D(1000), D(281), None])
    assert other != first["money"]
    ids = {ET.fromstring(str(svg)).get("id") for svg in first.values()}
    assert len(ids) == len(first), "each chart has its own id, so two on one page never clash"


def test_labels_and_values_read_in_chinese_with_their_unit():
    money = str(_money_chart())
    assert set(DISTRICTS) <= set(_texts(money))
    assert {"申请", "下达"} <= set(_texts(money))  # the legend
    tips = _tooltips(money)
    assert "盐都区·申请:1,234.50万元" in tips
    assert "亭湖区·下达:280.00万元" in tips
    counts = str(_every_chart()["bar"])
    assert "3项" in _texts(counts) and "2项" in _texts(counts)  # printed on the bars
    line = str(_every_chart()["line"])
    assert "5月·开工率:50.0%" in _tooltips(line)
    assert "100%" in _texts(line)  # rates are read against the full scale


def test_the_font_is_the_installed_chinese_one():
    svg = str(_money_chart())
    assert 'font-family:"Noto Sans CJK SC"' in svg


def test_horizontal_bars_read_from_the_top_in_the_order_given():
    svg = str(_every_chart()["stacked"])
    root = ET.fromstring(svg)
    y_of = {
        "".join(node.itertext()).strip(): float(node.get("y"))
        for node in root.iter()
        if node.tag.rsplit("}", 1)[-1] == "text" and node.get("y")
    }
    assert y_of["盐都区"] < y_of["亭湖区"] < y_of["盐城经济技术开发区"]


@pytest.mark.parametrize(
    "labels, series",
    [([], {}), (["盐都区"], {"逾期未报": [0]}), (["盐都区"], {"逾期未报": [None]})],
)
def test_nothing_to_draw_gives_a_small_note_instead_of_an_error(labels, series):
    svg = str(charts.bar_chart("逾期未报", labels, series, empty_text="暂无逾期"))
    assert _texts(svg) == ["逾期未报", "暂无逾期"]
    assert ET.fromstring(svg).get("viewBox") == "0 0 640 120"
    assert str(charts.line_chart("四率", ["5月"], {"开工率": [None]})).count("暂无数据") >= 1


@pytest.mark.parametrize(
    "value, unit, shown",
    [
        (D("1234.5"), "万元", "1,234.50万元"),
        (D(0), "万元", "0.00万元"),
        (3, "项", "3项"),
        (12000, "", "12,000"),
        (D("12.345"), "%", "12.3%"),
        (None, "万元", "—"),
    ],
)
def test_values_are_formatted_by_unit(value, unit, shown):
    assert charts.format_value(value, unit) == shown


def test_every_chart_prints_with_weasyprint_and_its_text_is_in_the_pdf():
    body = "".join(f'<div class="chart">{svg}</div>' for svg in _every_chart().values())
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>'
        "@page { size: A4; margin: 15mm } .chart svg { width: 100%; height: auto }"
        f"</style></head><body>{body}</body></html>"
    )
    pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = re.sub(r"\s+", "", text)
    for words in ("各区县资金(万元)", "盐都区", "四率变化趋势", "暂无数据"):
        assert words in text
