"""Helpers for the explorer tests: what a view shows, and values a control offers."""

from __future__ import annotations

import bqplot as bq
import ipycanvas
import ipywidgets as widgets
import numpy as np
from hypothesis import strategies as st

from cnncourse.explorers import Explorer, control_range

MARK_TRAITS = ("x", "y", "visible", "opacities", "colors", "stroke_width", "labels")


def _plain(value):
    if isinstance(value, np.ndarray):
        return (value.shape, value.tobytes())
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def snapshot(explorer: Explorer, with_message: bool = True) -> list:
    """Everything the view shows, controls excluded: image bytes, texts, plotted data."""
    skip = {id(w) for w in explorer.controls.values()}
    if not with_message:
        skip.add(id(explorer._message_html))
    seen: list = []

    def walk(w) -> None:
        if id(w) in skip:
            return
        if isinstance(w, bq.Figure):
            seen.append(("figure", w.title))
            for mark in w.marks:
                seen.append((type(mark).__name__, {k: type(s).__name__
                                                   for k, s in mark.scales.items()}))
                seen.extend((t, _plain(getattr(mark, t, None))) for t in MARK_TRAITS)
            for axis in w.axes:
                seen.append(("axis", axis.label, type(axis.scale).__name__))
        elif isinstance(w, widgets.Box):
            for child in w.children:
                walk(child)
        elif isinstance(w, widgets.Image):
            seen.append(("image", bytes(w.value)))
        elif isinstance(w, ipycanvas.Canvas | ipycanvas.MultiCanvas):
            seen.append(("canvas", id(w)))
        elif isinstance(w, widgets.ValueWidget):
            seen.append((type(w).__name__, _plain(w.value)))

    walk(explorer.view)
    return seen


def other_value(explorer: Explorer, name: str):
    """A value of control ``name`` different from its current one, inside its range."""
    widget = explorer.controls[name]
    rng = control_range(widget)
    value = widget.value
    if rng.kind == "int":
        return value + 1 if value + 1 <= rng.high else value - 1
    if rng.kind == "float":
        quarter = (rng.high - rng.low) / 4
        new = value + quarter if value + quarter <= rng.high else value - quarter
        return round(new / rng.step) * rng.step if rng.step else new
    if rng.kind == "log":
        exponent = np.log(value) / np.log(rng.base)
        quarter = (rng.high - rng.low) / 4
        exponent = exponent + quarter if exponent + quarter <= rng.high else exponent - quarter
        return float(rng.base ** exponent)
    if rng.kind == "choice":
        options = list(rng.options)
        return options[(options.index(value) + 1) % len(options)]
    if rng.kind == "bool":
        return not value
    examples = [e for e in explorer.examples.get(name, []) if e != value]
    return examples[0] if examples else value + " "


def layer_texts() -> st.SearchStrategy[str]:
    """Text for a layer-stack box: well-formed stacks, near misses and junk."""
    line = st.tuples(st.integers(0, 9), st.integers(0, 4), st.integers(0, 5),
                     st.integers(0, 3)).map(lambda t: " ".join(map(str, t[:3 + (t[3] > 1)])))
    stacks = st.lists(line, min_size=0, max_size=8).map("\n".join)
    return st.one_of(stacks, st.text(max_size=30), stacks.map(lambda s: s + "\nconv 3 2"))


def control_values(explorer: Explorer, name: str) -> st.SearchStrategy:
    """Every value control ``name`` offers now (free text: examples, stacks and junk)."""
    rng = control_range(explorer.controls[name])
    if rng.kind == "int":
        return st.integers(int(rng.low), int(rng.high))
    if rng.kind == "float":
        return st.floats(rng.low, rng.high)
    if rng.kind == "log":
        return st.floats(rng.low, rng.high).map(lambda e: float(rng.base ** e))
    if rng.kind == "choice":
        return st.sampled_from(rng.options)
    if rng.kind == "bool":
        return st.booleans()
    examples = explorer.examples.get(name) or [""]
    return st.one_of(st.sampled_from(examples), layer_texts())


def tiny_data(n_train: int, n_valid: int):
    """The first digits of ``load_mnist()`` (MNIST or its fallback), as a small ImageData."""
    import warnings

    from cnncourse.data import ImageData, load_mnist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without MNIST, the fallback digits warn
        data = load_mnist()
    return ImageData(data.train_x[:n_train], data.train_y[:n_train], data.valid_x[:n_valid],
                     data.valid_y[:n_valid], source="tiny test set")
