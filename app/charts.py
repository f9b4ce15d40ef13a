"""Plotly figures for the pages; every function takes plain data and returns a go.Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from engine.data.synthetic import HQ_ACCEPT_RATE
from engine.metrics.registry import MODE_METRICS, describe
from engine.plots import log_density_grid

TRUE_HQ_PCT = 100 * HQ_ACCEPT_RATE  # the share of true samples every mixture's HQ rule accepts (98.9 %)

MAX_POINTS = 2_000  # per curve; longer histories are thinned so the browser stays quick
COLOURS = qualitative.Plotly
FINAL_METRICS = {describe(name).column: describe(name).label for name in MODE_METRICS}  # table column: title


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
    if "hq_pct" in evals:
        _true_hq_line(fig, secondary_y=True)
    fig.update_xaxes(title_text="step")
    return _layout(fig, "Mode metrics")


def _true_hq_line(fig: go.Figure, **where) -> None:
    """A dotted line at the HQ % that true samples score: what a model that matches the data reaches."""
    fig.add_hline(y=TRUE_HQ_PCT, line=dict(dash="dot", width=1, color="#7f7f7f"),
                  annotation_text=f"true samples {TRUE_HQ_PCT:.1f} %", annotation_position="bottom right",
                  annotation_font_size=10, **where)


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


def density_figure(samples: np.ndarray, means: np.ndarray | None, title: str, height: int = 460) -> go.Figure:
    """2-D samples over a density contour (log scale, three decades) and the numbered true modes.

    The modes carry the numbers of mode_histogram_figure's bars, so a missing bar can be found on the plane.
    A log scale because one collapsed mode can hold a hundred times the density of the rest.
    """
    fig = go.Figure()
    finite = samples[np.isfinite(samples).all(axis=1)]
    reach = np.abs(means).max() if means is not None else np.abs(finite).max(initial=1.0)
    span = float(reach) * 1.5 + 1e-6
    if len(finite) > 2:
        x, y, log_density = log_density_grid(finite, 2 * span)
        top = float(log_density.max())
        scale = [[0.0, "rgba(255,255,255,0)"], [0.2, "rgba(158,154,200,0.35)"], [1.0, "rgba(63,0,125,0.6)"]]
        fig.add_trace(go.Contour(x=x, y=y, z=log_density, name="density", colorscale=scale, zmin=top - 3,
                                 zmax=top, showscale=False, hoverinfo="skip", line=dict(width=0.4),
                                 contours=dict(start=top - 3, end=top, size=0.5, coloring="fill")))
    fig.add_trace(go.Scattergl(x=finite[:, 0], y=finite[:, 1], mode="markers", name="samples",
                               marker=dict(size=2, opacity=0.4, color="#1f77b4")))
    if means is not None:
        # WebGL too: WebGL traces are drawn above SVG ones, and the modes must stay on top of the samples
        fig.add_trace(go.Scattergl(x=means[:, 0], y=means[:, 1], mode="markers+text", name="true modes",
                                   text=[str(k) for k in range(len(means))], textposition="top right",
                                   textfont=dict(size=10, color="#d62728"),
                                   marker=dict(symbol="x", size=10, color="#d62728", line=dict(width=1, color="white"))))
        fig.update_xaxes(range=[-span, span])
        fig.update_yaxes(range=[-span, span])
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return _layout(fig, title, height)


def mode_histogram_figure(counts: pd.DataFrame, title: str, height: int = 360) -> go.Figure:
    """HQ samples per mode (share of all HQ samples) beside each mode's true weight, as grouped bars."""
    fig = go.Figure()
    modes = [str(m) for m in counts["mode"]]
    fig.add_trace(go.Bar(x=modes, y=counts["share"], name="HQ samples", marker_color="#1f77b4",
                         customdata=counts["hq_samples"], hovertemplate="mode %{x}: %{y:.1%} (%{customdata})"))
    fig.add_trace(go.Bar(x=modes, y=counts["weight"], name="true weight", marker_color="#d62728", opacity=0.55,
                         hovertemplate="mode %{x}: weight %{y:.1%}"))
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(title_text="mode", type="category")
    fig.update_yaxes(title_text="share", tickformat=".0%", rangemode="tozero")
    return _layout(fig, title, height)


def digit_histogram_figure(counts: np.ndarray, expected: np.ndarray, title: str, height: int = 360) -> go.Figure:
    """Samples per digit (share of all samples) beside each digit's expected share, as grouped bars."""
    share = counts / max(counts.sum(), 1)
    digits = [str(d) for d in range(len(counts))]
    fig = go.Figure([go.Bar(x=digits, y=share, name="samples", marker_color="#1f77b4", customdata=counts,
                            hovertemplate="digit %{x}: %{y:.1%} (%{customdata})"),
                     go.Bar(x=digits, y=expected, name="expected", marker_color="#d62728", opacity=0.55,
                            hovertemplate="digit %{x}: expected %{y:.1%}")])
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(title_text="digit (classifier's argmax)", type="category")
    fig.update_yaxes(title_text="share", tickformat=".0%", rangemode="tozero")
    return _layout(fig, title, height)


def triple_heatmap_figure(counts: np.ndarray, expected: np.ndarray, title: str, height: int = 360) -> go.Figure:
    """Stacked MNIST's 1,000 modes as a 10 x 100 map (row: red digit; column: green and blue digits), coloured by
    samples over the expected count: 1 as expected, 0 a dropped mode, 2 or more the brightest."""
    ratio = (counts / max(counts.sum(), 1) / expected).reshape(10, 100)
    fig = go.Figure(go.Heatmap(z=ratio, customdata=counts.reshape(10, 100), colorscale="Viridis", zmin=0,
                               zmax=2.0, colorbar=dict(title="÷ expected"),
                               hovertemplate="triple %{y}%{x}: %{customdata} samples, %{z:.2f} x expected"
                                             "<extra></extra>",
                               x=[f"{c:02d}" for c in range(100)], y=[str(r) for r in range(10)]))
    fig.update_xaxes(title_text="green, blue digits", type="category", nticks=10)
    fig.update_yaxes(title_text="red digit", type="category", autorange="reversed")
    return _layout(fig, title, height)


def mode_curves_figure(evals: pd.DataFrame, n_modes: int | None = None,
                       names: tuple[str, ...] = MODE_METRICS) -> go.Figure:
    """Modes captured, HQ % and reverse KL (or other `names`) against step, one panel each; noisy_* figures
    dashed beside them."""
    panels = {name: describe(name).label for name in names}
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels.values()), horizontal_spacing=0.07)
    rows = _thin(evals)
    for col, key in enumerate(panels, start=1):
        for prefix, dash, name in (("", "solid", "G(z)"), ("noisy_", "dash", "G(z) + sigma·eps")):
            if f"{prefix}{key}" not in rows:
                continue
            colour = COLOURS[0] if not prefix else COLOURS[1]
            fig.add_trace(go.Scatter(x=rows["step"], y=rows[f"{prefix}{key}"], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=col == 1 and "noisy_modes" in rows,
                                     marker=dict(size=4), line=dict(color=colour, dash=dash)), row=1, col=col)
    fig.update_xaxes(title_text="step", rangemode="tozero")  # from the start of training, even with one evaluation
    fig.update_yaxes(rangemode="tozero")
    if n_modes:  # the true number of modes as the panel's ceiling
        fig.update_yaxes(range=[0, n_modes * 1.05], row=1, col=1)
    if "hq_pct" in panels:
        fig.update_yaxes(range=[0, 100], row=1, col=2)
    if "hq_pct" in rows and "hq_pct" in panels:
        _true_hq_line(fig, row=1, col=2)
    _layout(fig, "", height=320)
    return fig.update_layout(legend=dict(y=-0.32), margin=dict(b=40))  # below the "step" titles
