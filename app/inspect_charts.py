"""Plotly figures of Explore's analysis tabs (latent / data maps); plain data in, a go.Figure out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from app.charts import _layout

PALETTE = qualitative.Dark24
REAL, GENERATED = 0, 1  # the traces' order: a selection's curve_number says which set a point is from


def _colours(labels: np.ndarray) -> list[str]:
    return ["#999999" if label < 0 else PALETTE[label % len(PALETTE)] for label in labels]


def map_figure(arrays: dict[str, np.ndarray], title: str, label_name: str, height: int = 560) -> go.Figure:
    """Real points (dots, coloured by class or mixture component) and generated ones (crosses, coloured by the
    predicted class or nearest mode) on one embedding: a real region with no cross nearby is a missing mode."""
    fig = go.Figure()
    for name, points, labels, symbol, size in (("real", arrays["real"], arrays["real_labels"], "circle", 4),
                                               ("generated", arrays["generated"], arrays["generated_labels"],
                                                "x", 5)):
        fig.add_trace(go.Scattergl(x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                                   customdata=labels, hovertemplate=f"{name}, {label_name} %{{customdata}}"
                                                                    "<extra></extra>",
                                   marker=dict(symbol=symbol, size=size, opacity=0.6, color=_colours(labels))))
    fig.update_yaxes(scaleanchor="x", scaleratio=1, showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(dragmode="select")  # a box at once; the lasso is in the tool bar
    return _layout(fig, title, height)
