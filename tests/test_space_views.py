"""The Space's text, tables and figures: pure functions, checked without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misattribution import space_views

TABLE = pd.DataFrame(
    {
        "issue_id": ["cluster-a", "rule-b"],
        "name": ["Miscalculates the *total*", "Truncated"],
        "count": [30, 5],
        "share": [0.3, 0.05],
        "share_ci_low": [0.21, np.nan],
        "share_ci_high": [0.39, np.nan],
        "mean_score": [0.4, np.nan],
        "impact": [0.18, 0.01],
        "impact_ci_low": [0.12, 0.0],
        "impact_ci_high": [0.24, 0.02],
        "provenance": ["cluster", "rule:truncation"],
    }
)


def test_user_text_is_markdown_inert():
    escaped = space_views.escape_markdown("[click](http://x) <b>*bold*</b> `code`")
    assert escaped == r"\[click\]\(http://x\) \<b\>\*bold\*\</b\> \`code\`"


def test_issues_display_formats_shares_intervals_and_missing_values():
    shown = space_views.issues_display(TABLE)
    assert shown.columns.tolist()[:3] == ["issue", "rows", "share"]
    assert shown.loc[0, "share"] == "30.0%" and shown.loc[0, "share 95% CI (%)"] == "[21.0, 39.0]"
    assert shown.loc[1, "share 95% CI (%)"] == "—" and shown.loc[1, "mean score"] == "—"
    assert shown.loc[0, "impact 95% CI"] == "[0.1200, 0.2400]" and shown.loc[1, "source"] == "rule:truncation"


def test_issues_figure_draws_the_shares_with_asymmetric_intervals():
    figure = space_views.issues_figure(TABLE)
    bar = figure.data[0]
    assert list(bar.y) == ["Truncated", "Miscalculates the *total*"]  # largest at the top
    assert list(bar.x) == pytest.approx([5.0, 30.0])
    assert list(bar.error_x.array) == pytest.approx([0.0, 9.0]) and list(bar.error_x.arrayminus) == pytest.approx(
        [0, 9]
    )
    assert space_views.issues_figure(TABLE.iloc[:0]) is None
