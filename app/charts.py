"""Plotly figures for the pages; every function takes plain data and returns a go.Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

MAX_POINTS = 2_000  # per curve; longer histories are thinned so the browser stays quick
COLOURS = qualitative.Plotly
FINAL_METRICS = {"modes": "modes captured", "HQ %": "HQ samples (%)", "KL": "reverse KL"}


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    """Every k-th row so at most MAX_POINTS remain, plus the last row (the curve must reach the newest step)."""
    stride = -(-len(frame) // MAX_POINTS)
    if stride <= 1:
        return frame
    rows = list(range(0, len(frame), stride))
    return frame.iloc[rows if rows[-1] == len(frame) - 1 else [*rows, len(frame) - 1]]


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=height,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def loss_figure(train: pd.DataFrame) -> go.Figure:
    """Every loss_* column of the train rows against step."""
    fig = go.Figure()
    rows = _thin(train)
    for column in [c for c in train.columns if c.startswith("loss")]:
        fig.add_trace(go.Scatter(x=rows["step"], y=rows[column], mode="lines", name=column))
    fig.update_xaxes(title_text="step")
    return _layout(fig, "Losses")


def stats_figure(train: pd.DataFrame, columns: list[str]) -> go.Figure:
    """Other per-step quantities a method logs (sigma, entropy, acceptance rates), one panel each: scales differ."""
    fig = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, subplot_titles=columns, vertical_spacing=0.08)
    rows = _thin(train)
    for row, column in enumerate(columns, start=1):
        fig.add_trace(go.Scatter(x=rows["step"], y=rows[column], mode="lines", name=column, showlegend=False,
                                 line=dict(color=COLOURS[row % len(COLOURS)])), row=row, col=1)
    fig.update_xaxes(title_text="step", row=len(columns), col=1)
    return _layout(fig, "", height=max(240, 160 * len(columns)))


def eval_figure(evals: pd.DataFrame) -> go.Figure:
    """Modes captured and HQ % against step, on two y axes."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if "modes" in evals:
        fig.add_trace(go.Scatter(x=evals["step"], y=evals["modes"], mode="lines+markers", name="modes",
                                 line=dict(color=COLOURS[0])))
    if "hq_pct" in evals:
        fig.add_trace(go.Scatter(x=evals["step"], y=evals["hq_pct"], mode="lines+markers", name="HQ %",
                                 line=dict(color=COLOURS[1], dash="dot")), secondary_y=True)
    fig.update_yaxes(title_text="modes", rangemode="tozero", secondary_y=False)
    # its own ticks (0, 20, ... 100), not ticks synced to the modes axis' gridlines
    fig.update_yaxes(title_text="HQ %", range=[0, 100], tickmode="linear", dtick=20, showgrid=False,
                     secondary_y=True)
    fig.update_xaxes(title_text="step")
    return _layout(fig, "Mode metrics")


def samples_figure(samples: np.ndarray, means: np.ndarray | None, title: str, height: int = 360) -> go.Figure:
    """2-D samples (blue dots) over the true mode means (red crosses), equal axes."""
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=samples[:, 0], y=samples[:, 1], mode="markers", name="samples",
                               marker=dict(size=3, opacity=0.45, color="#1f77b4")))
    if means is not None:
        fig.add_trace(go.Scatter(x=means[:, 0], y=means[:, 1], mode="markers", name="true modes",
                                 marker=dict(symbol="x", size=10, color="#d62728")))
        # frame the true modes so collapse shows as empty space, not as a rescaled axis
        span = float(np.abs(means).max()) * 1.5 + 1e-6
        fig.update_xaxes(range=[-span, span])
        fig.update_yaxes(range=[-span, span])
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return _layout(fig, title, height)


def overlay_figure(curves: dict[str, list[tuple[int, float]]], metric: str) -> go.Figure:
    """One line per run: metric value against step."""
    fig = go.Figure()
    for i, (label, points) in enumerate(curves.items()):
        frame = _thin(pd.DataFrame(points, columns=["step", "value"]))
        fig.add_trace(go.Scatter(x=frame["step"], y=frame["value"], mode="lines+markers", name=label,
                                 marker=dict(size=4), line=dict(color=COLOURS[i % len(COLOURS)])))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=metric)
    return _layout(fig, metric, height=380)


def final_metrics_figure(runs: pd.DataFrame) -> go.Figure:
    """Each run's final modes, HQ % and KL as bars, one panel per metric (their scales differ).

    Runs keep the colours of overlay_figure when given in the same order.
    """
    fig = make_subplots(rows=1, cols=len(FINAL_METRICS), subplot_titles=list(FINAL_METRICS.values()))
    for i, (_, run) in enumerate(runs.iterrows()):
        colour = COLOURS[i % len(COLOURS)]
        for col, metric in enumerate(FINAL_METRICS, start=1):
            value = run[metric]
            missing = value is None or pd.isna(value)
            # a zero or missing bar is invisible: print every value on its bar
            fig.add_trace(go.Bar(x=[run["run"]], y=[0 if missing else value], name=run["run"], legendgroup=run["run"],
                                 showlegend=col == 1, marker_color=colour, text=["n/a" if missing else f"{value:.3g}"],
                                 textposition="outside", cliponaxis=False), row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(rangemode="tozero")
    return _layout(fig, "", height=320)
