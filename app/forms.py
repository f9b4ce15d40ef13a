"""Widgets generated from config metadata (engine.config.param): the form never lists a field by hand.

Each field becomes a widget keyed "<prefix>.<name>", so tests can find a widget by its config key and
apply_preset can set a method's form to its preset for a data set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import streamlit as st

from engine.config import describe_fields


def _help(field: dict) -> str:
    parts = [field.get("help", "")]
    if "range" in field:
        parts.append(f"Allowed: {field['range'][0]:g} to {field['range'][1]:g}.")
    parts.append(f"Default: {field['default']}.")
    return " ".join(p for p in parts if p)


def _float_step(default: float) -> float:
    # one tenth of the default's order of magnitude: 1e-3 steps by 1e-4, 0.5 by 0.01
    return 10.0 ** (math.floor(math.log10(abs(default))) - 1) if default else 0.01


def field_widget(field: dict, key: str, label: str | None = None) -> Any:
    """One widget for one described field; a declared range becomes the widget's min and max.

    The field's default is the widget's initial value unless the session already holds one for its key
    (set by apply_preset, or kept from an earlier run of the page), which then wins."""
    label, help_text, default = label or field["name"], _help(field), field["default"]
    preset = key in st.session_state  # Streamlit warns when a widget gets both a value and a state
    if "choices" in field:
        options = list(field["choices"])
        initial = {} if preset else {"index": options.index(default)}
        return st.selectbox(label, options, key=key, help=help_text, **initial)
    kind = field["type"]
    if kind == "bool":
        return st.checkbox(label, key=key, help=help_text, **({} if preset else {"value": default}))
    if kind in ("int", "float"):
        cast = int if kind == "int" else float
        lo, hi = (cast(v) for v in field["range"]) if "range" in field else (None, None)
        extra = {"step": 1} if kind == "int" else {"step": _float_step(default), "format": "%g"}
        extra |= {} if preset else {"value": cast(default)}
        return st.number_input(label, min_value=lo, max_value=hi, key=key, help=help_text, **extra)
    return st.text_input(label, key=key, help=help_text, **({} if preset else {"value": str(default)}))


def apply_preset(cls: type, prefix: str, preset: dict, only: Iterable[str] | None = None) -> None:
    """Set every field's widget state (or only those named) to the preset's value, or to the field's default
    where the preset is silent. Call it before the widgets are drawn, when the method or the data set changed."""
    for field in describe_fields(cls):
        if only is not None and field["name"] not in only:
            continue
        value = preset.get(field["name"], field["default"])
        st.session_state[f"{prefix}.{field['name']}"] = float(value) if field["type"] == "float" else value


def config_fields(cls: type, prefix: str, *, only: Iterable[str] | None = None, skip: Iterable[str] = (),
                  columns: int = 1, label_prefix: str = "") -> dict[str, Any]:
    """Widgets for the fields of a config dataclass; returns {field name: value}.

    `only` keeps those fields (in that order), `skip` drops some; fields are laid out over
    `columns` columns, row by row. `label_prefix` tells apart fields of the same name in two
    sections (train.seed, data.seed).
    """
    fields = {f["name"]: f for f in describe_fields(cls)}
    names = [n for n in (only if only is not None else fields) if n not in set(skip)]
    slots = st.columns(columns) if columns > 1 else [st.container()]
    values = {}
    for i, name in enumerate(names):
        with slots[i % columns]:
            values[name] = field_widget(fields[name], f"{prefix}.{name}", label_prefix + name)
    return values


def dataset_picker(registered: Iterable[str], schemes: dict) -> str:
    """A dataset selectbox (registered sets, then one "scheme:ARGUMENT" entry per scheme) with a path box.

    Returns the data name the engine understands: "ring8", "vectors:/some/file.npy" or "images:/some/folder".
    """
    file_options = {f"{scheme}:{source.argument} ({source.label})": scheme for scheme, source in schemes.items()}
    choice = st.selectbox("Dataset", [*registered, *file_options], key="data.choice",
                          help="Synthetic mixtures with known modes, MNIST-family and CIFAR-10 images, or your own "
                               "N x D floats (.npy or .csv) or folder of images.")
    if choice not in file_options:
        return choice
    source = schemes[file_options[choice]]
    path = st.text_input(f"Path of {source.label}", key="data.path", placeholder=source.placeholder)
    return f"{file_options[choice]}:{path.strip()}"
