"""What the Space shows: Markdown text, display tables and plotly figures built from explore's results.

Pure functions of DataFrames and :class:`~misattribution.explore.Explorer` results, no Gradio: the
layout and its wiring live in :mod:`misattribution.space_app`. User text is escaped before it reaches
Markdown (:func:`escape_markdown`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from misattribution.explore import Explorer


# -- text and tables ----------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Markdown-inert text: user data must not become links, HTML or emphasis."""
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-.!|~" else c for c in str(text))


def describe(explorer: Explorer) -> str:
    meta = explorer.report.meta
    mode = meta.get("mode", "")
    return (
        f"**{explorer.n_rows:,}** rows · **{len(explorer.issue_ids)}** issues"
        + (f" · mode {escape_markdown(str(mode))}" if mode else "")
        + (
            f" · systems: {', '.join(escape_markdown(s) for s in explorer.systems)}"
            if len(explorer.systems) > 1
            else ""
        )
    )


def filter_summary(overview: Any) -> str:
    share = f"{overview.failing_share:.1%}" if overview.rows else "—"
    return f"**{overview.rows:,}** of {overview.total_rows:,} rows match · {overview.failing:,} failing ({share})"


def overview_text(explorer: Explorer, overview: Any, n_issues: int) -> str:
    share = f"{overview.failing_share:.1%}" if overview.rows else "—"
    mean = "—" if pd.isna(overview.mean_score_norm) else f"{overview.mean_score_norm:.2f}"
    return (
        f"| rows | failing | failing share | mean normalised score | issues |\n|---:|---:|---:|---:|---:|\n"
        f"| {overview.rows:,} | {overview.failing:,} | {share} | {mean} | {n_issues} |"
    )


def percent(value: float) -> str:
    return "—" if pd.isna(value) else f"{100 * value:.1f}%"


def interval(low: float, high: float, scale: float = 100, digits: int = 1) -> str:
    if pd.isna(low) or pd.isna(high):
        return "—"
    return f"[{scale * low:.{digits}f}, {scale * high:.{digits}f}]"


def issues_display(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "issue": table["name"],
            "rows": table["count"],
            "share": table["share"].map(percent),
            "share 95% CI (%)": [interval(a, b) for a, b in zip(table["share_ci_low"], table["share_ci_high"])],
            "mean score": table["mean_score"].map(lambda v: "—" if pd.isna(v) else f"{v:.2f}"),
            "impact": table["impact"].map(lambda v: "—" if pd.isna(v) else f"{v:.4f}"),
            "impact 95% CI": [interval(a, b, 1, 4) for a, b in zip(table["impact_ci_low"], table["impact_ci_high"])],
            "source": table["provenance"],
            "id": table["issue_id"],
        }
    )


def compare_display(compared: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "issue": compared["name"],
            "share, full": compared["share_full"].map(percent),
            "share, filtered": compared["share_filtered"].map(percent),
            "difference (points)": compared["difference"].map(lambda v: "—" if pd.isna(v) else f"{100 * v:+.1f}"),
        }
    )


def systems_display(table: pd.DataFrame) -> Any:
    a, b = table.attrs["system_a"], table.attrs["system_b"]
    shown = pd.DataFrame(
        {
            "issue": table["name"],
            "significant": table["significant"].map(lambda v: "yes" if v else ""),
            f"share {a}": table["share_a"].map(percent),
            f"share {b}": table["share_b"].map(percent),
            "difference (points)": table["difference"].map(lambda v: "—" if pd.isna(v) else f"{100 * v:+.1f}"),
            "95% CI (points)": [interval(lo, hi) for lo, hi in zip(table["ci_low"], table["ci_high"])],
        }
    )
    highlight = table["significant"].to_numpy()
    return shown.style.apply(
        lambda row: ["background-color: #fde68a; font-weight: 600" if highlight[row.name] else "" for _ in row], axis=1
    )


# -- figures (plotly) ---------------------------------------------------------------------------------


def layout(figure: Any, height: int = 360) -> Any:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white")
    return figure


def histogram_figure(histogram: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(go.Bar(x=histogram["score"], y=histogram["rows"], marker_color="#4f46e5"))
    figure.update_xaxes(title="score", type="category")
    figure.update_yaxes(title="rows")
    return layout(figure)


def treemap_figure(tree: pd.DataFrame | None) -> Any:
    if tree is None or not int(tree["rows"].sum()):
        return None
    import plotly.graph_objects as go

    tree = tree[tree["rows"] > 0]
    primaries = tree.groupby(["primary", "primary_name"], as_index=False)["rows"].sum()
    figure = go.Figure(
        go.Treemap(
            ids=[*primaries["primary"], *(tree["primary"] + "/" + tree["category"])],
            labels=[*primaries["primary_name"], *tree["category_name"]],
            parents=[*([""] * len(primaries)), *tree["primary"]],
            values=[*primaries["rows"], *tree["rows"]],
            branchvalues="total",
            textinfo="label+value",
        )
    )
    return layout(figure)


def issues_figure(table: pd.DataFrame, top: int = 30) -> Any:
    if table.empty:
        return None
    import plotly.graph_objects as go

    shown = table.head(top).iloc[::-1]
    figure = go.Figure(
        go.Bar(
            y=shown["name"],
            x=100 * shown["share"],
            orientation="h",
            marker_color="#4f46e5",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": 100 * (shown["share_ci_high"] - shown["share"]).fillna(0),
                "arrayminus": 100 * (shown["share"] - shown["share_ci_low"]).fillna(0),
            },
        )
    )
    figure.update_xaxes(title="% of filtered rows")
    return layout(figure, height=max(300, 26 * len(shown) + 80))


def compare_figure(compared: pd.DataFrame, top: int = 30) -> Any:
    if compared.empty:
        return None
    import plotly.graph_objects as go

    shown = compared.head(top).iloc[::-1]
    figure = go.Figure(
        [
            go.Bar(
                y=shown["name"],
                x=100 * shown["share_full"],
                name="full report",
                orientation="h",
                marker_color="#94a3b8",
            ),
            go.Bar(
                y=shown["name"],
                x=100 * shown["share_filtered"],
                name="filtered",
                orientation="h",
                marker_color="#4f46e5",
            ),
        ]
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(title="% of rows")
    return layout(figure, height=max(300, 34 * len(shown) + 80))


def systems_figure(table: pd.DataFrame, top: int = 30) -> Any:
    import plotly.graph_objects as go

    shown = table.head(top).iloc[::-1]
    figure = go.Figure(
        go.Bar(
            y=shown["name"],
            x=100 * shown["difference"],
            orientation="h",
            marker_color=["#d97706" if s else "#cbd5e1" for s in shown["significant"]],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": 100 * (shown["ci_high"] - shown["difference"]).fillna(0),
                "arrayminus": 100 * (shown["difference"] - shown["ci_low"]).fillna(0),
            },
        )
    )
    figure.update_xaxes(title=f"share {table.attrs['system_a']} − share {table.attrs['system_b']} (points)")
    return layout(figure, height=max(300, 26 * len(shown) + 80))


def agreement_figure(points: pd.DataFrame) -> Any:
    if points.empty:
        return None
    import plotly.graph_objects as go

    size = 12 + 40 * (points["rows"] / points["rows"].max()) ** 0.5
    figure = go.Figure(
        go.Scatter(
            x=points["human_score"],
            y=points["score"],
            mode="markers+text",
            text=points["rows"],
            textposition="middle center",
            marker={"size": size, "color": "#4f46e5", "opacity": 0.6},
        )
    )
    figure.update_xaxes(title="human score")
    figure.update_yaxes(title="judge score")
    return layout(figure)
