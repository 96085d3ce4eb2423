"""The Space's HTML tables and bar charts (render.table_html, render.bars_html): escaped, complete, to scale."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from misattribution.space import render


def _bars(chart: str) -> list[dict[str, float]]:
    found = re.findall(r'class="ma-bar" title="([^"]*)" style="left: ([\d.]+)%; width: ([\d.]+)%', chart)
    return [{"title": t, "left": float(left), "width": float(w)} for t, left, w in found]


def test_table_html_escapes_marks_and_keeps_every_row_and_id() -> None:
    frame = pd.DataFrame({"issue": ["<script>x</script>", "b & c"], "share": ["12.0%", None]})
    shown = render.table_html(frame, row_ids=['r"1', "r2"], marked=[False, True])
    assert "<script>" not in shown and "&lt;script&gt;x&lt;/script&gt;" in shown and "b &amp; c" in shown
    assert shown.count("<tr") == 3 and 'data-row="r&quot;1"' in shown and 'data-row="r2" class="marked"' in shown
    assert '<td class="num">12.0%</td>' in shown and "<td></td>" in shown  # missing: an empty cell
    assert render.table_html(frame.iloc[:0]) == "" and render.table_html(None) == ""


def test_bars_are_to_scale_with_intervals_and_a_zero_line() -> None:
    chart = render.bars_html(
        ["a", "b <i>", "c"],
        [("difference", [10.0, -20.0, float("nan")], ["#d97706", "#cbd5e1", "#cbd5e1"])],
        low=[5.0, -30.0, np.nan],
        high=[15.0, -10.0, np.nan],
        title="points",
    )
    bars = _bars(chart)
    assert len(bars) == 2  # the NaN bar is not drawn
    # The axis covers every value and interval: -30 .. 15 with round ticks, here -30 .. 20 (step 10).
    ticks = [float(t) for t in re.findall(r'<span style="left: [\d.]+%">(-?[\d.]+)</span>', chart)]
    assert ticks[0] <= -30 and ticks[-1] >= 15 and 0 in ticks
    scale = 100 / (ticks[-1] - ticks[0])
    assert np.isclose(bars[0]["width"], 10 * scale, atol=0.1) and np.isclose(bars[1]["width"], 20 * scale, atol=0.1)
    zero = (0 - ticks[0]) * scale
    assert np.isclose(bars[0]["left"], zero, atol=0.1)  # positive bars start at zero
    assert np.isclose(bars[1]["left"] + bars[1]["width"], zero, atol=0.1)  # negative ones end there
    assert chart.count('class="ma-ci"') == 2 and chart.count('class="ma-zero"') == 3
    assert "b &lt;i&gt;" in chart and "<i>" not in chart
    assert "background: #d97706" in chart and "a · difference: 10" in bars[0]["title"]
    assert render.bars_html([], [("x", [], "#000")], title="t") == ""


def test_comparison_bars_draw_both_shares_per_issue() -> None:
    compared = pd.DataFrame({"name": ["one", "two"], "share_full": [0.3, 0.1], "share_filtered": [0.5, 0.0]})
    chart = render.compare_bars(compared)
    bars = _bars(chart)
    assert [b["title"] for b in bars] == [
        "one · full report: 30%",
        "one · filtered: 50%",
        "two · full report: 10%",
        "two · filtered: 0%",
    ]
    assert "full report" in chart.split('class="ma-row"')[0]  # the legend comes first
    assert render.compare_bars(compared.iloc[:0]) == ""


def test_systems_bars_colour_the_significant_differences() -> None:
    table = pd.DataFrame(
        {
            "name": ["x", "y"],
            "difference": [-0.54, 0.01],
            "ci_low": [-0.63, -0.05],
            "ci_high": [-0.43, 0.07],
            "significant": [True, False],
        }
    )
    table.attrs.update(system_a="A", system_b="B")
    chart = render.systems_bars(table)
    assert chart.index("#d97706") < chart.index("#cbd5e1") and "share A − share B (points)" in chart
    assert chart.count('class="ma-ci"') == 2


def test_category_bars_group_secondaries_under_their_primary_largest_first() -> None:
    tree = pd.DataFrame(
        {
            "primary": ["quality", "reasoning", "reasoning", "quality"],
            "primary_name": ["Response Quality", "Reasoning", "Reasoning", "Response Quality"],
            "category": ["truncation", "result_error", "process_error", "typos"],
            "category_name": ["Truncation", "Result Error", "Process Error", "Typos"],
            "rows": [3, 5, 2, 0],
        }
    )
    titles = [b["title"] for b in _bars(render.categories_bars(tree))]
    assert titles == [
        "Reasoning · rows: 7",
        "Reasoning → Result Error · rows: 5",
        "Reasoning → Process Error · rows: 2",
        "Response Quality · rows: 3",
        "Response Quality → Truncation · rows: 3",
    ]  # no bar for a category without rows
    assert render.categories_bars(tree.assign(rows=0)) == "" and render.categories_bars(None) == ""


def test_histogram_bars_one_per_score() -> None:
    histogram = pd.DataFrame({"score": ["0", "1", "2"], "rows": [4, 0, 6], "share": [0.4, 0.0, 0.6]})
    bars = _bars(render.histogram_bars(histogram))
    assert [b["title"] for b in bars] == ["score 0 · rows: 4", "score 1 · rows: 0", "score 2 · rows: 6"]
    assert bars[1]["width"] == 0 and bars[2]["width"] > bars[0]["width"]
