"""Receptive fields: which input pixels one unit of a layer can see, on any traceable model.

For each conv or pool layer, with ``k, s, p, d`` its kernel, stride, padding and dilation::

    jump_out  = jump_in * s
    rf_out    = rf_in + d * (k - 1) * jump_in
    start_out = start_in + (d * (k - 1) / 2 - p) * jump_in

starting from ``jump = 1, rf = 1, start = 0`` at the input. A model is followed along its
``torch.fx`` graph, not its list of modules: where branches meet (a residual addition, an
inception concatenation) a unit sees the union of what each branch sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import nn

from ._checks import as_int, as_pair
from .footprint import gradient_footprint, linear_probe
from .sizes import IntOrPair, conv_output_size, pool_output_size
from .tracing import Layer, Step, TraceFailed, trace

Pair = tuple[int, int]


@dataclass(frozen=True)
class ReceptiveField:
    """One layer of a receptive-field table (ints, or (h, w) pairs for non-square stacks).

    ``jump`` is the distance in input pixels between neighbouring outputs of this layer,
    ``rf`` the side of the input region one output sees, and ``start`` the input coordinate of
    the centre of output 0's region (input pixel 0 has its centre at 0). ``whole``: every
    input pixel reaches the unit (after a global pool, a linear layer over flattened maps, or a
    branch that multiplies by a global summary); ``rf`` is then ``None`` unless the unit also
    has a local field. ``rf`` is ``None`` too when the field cannot be followed: ``note`` says
    why. The layer's ``kernel_size`` .. ``dilation`` are ``None`` for a record that is not one
    conv or pool layer.
    """

    name: str
    kernel_size: IntOrPair | None
    stride: IntOrPair | None
    padding: IntOrPair | None
    dilation: IntOrPair | None
    out_size: IntOrPair | None
    jump: IntOrPair | None
    rf: IntOrPair | None
    start: float | tuple[float, float] | None
    whole: bool = False
    note: str = ""


@dataclass(frozen=True)
class _Field:
    """What one unit of a step's output sees, per axis; ``rf is None``: no local field."""

    jump: Pair | None
    rf: Pair | None
    start: tuple[float, float] | None
    size: Pair | None
    whole: bool = False
    flat: bool = False  # the maps were flattened: a linear layer now mixes every position
    note: str = ""


_UNKNOWN = _Field(None, None, None, None)


def receptive_field(model: nn.Module | Sequence, input_size: IntOrPair | None = None,
                    at: str | None = None) -> list[ReceptiveField] | ReceptiveField:
    """Receptive field of every conv, pool and linear layer, in the order the model runs them.

    ``model`` is an ``nn.Module`` or a list of ``(kernel, stride, padding[, dilation])`` tuples,
    one layer each. The last record is the model's output; ``out_size`` is filled when
    ``input_size`` is given. ``at="layer2"`` returns the one record of that submodule's output.
    A model that ``torch.fx`` cannot trace is measured by gradients instead (``input_size`` is
    then needed): one record, whose ``note`` says so.
    """
    size = as_pair(input_size, "input_size", 1) if input_size is not None else None
    if isinstance(model, nn.Module):
        try:
            traced = trace(model)
        except TraceFailed as failure:
            return _measured(model, size, at, failure)
        steps, ends = traced.steps, traced.ends
        if at is not None and at not in ends:
            raise ValueError(f"at: the model has no submodule {at!r} that returns a tensor; "
                             f"try one of {', '.join(list(ends)[:8])}")
    elif isinstance(model, Sequence) and not isinstance(model, str):
        steps, ends = _steps_of_tuples(model), {}
        if at is not None:
            raise ValueError("at names a submodule: give a model, not a list of tuples")
    else:
        raise ValueError(f"model must be an nn.Module or a list of (kernel, stride, padding) "
                         f"tuples, got {type(model).__name__}")
    if not any(s.kind == "layer" for s in steps):
        raise ValueError("model: it holds no Conv2d, MaxPool2d or AvgPool2d layer")
    fields, records = _walk(steps, size)
    if at is not None:
        leaf = [r for r, i in records if i == ends[at] and r.name == at]
        return _shown(leaf or [_record(at, None, fields[ends[at]])], size)[0]
    out = fields[-1]
    result = [r for r, _ in records]
    if _record("", None, out) != replace(result[-1], name="", kernel_size=None, stride=None,
                                         padding=None, dilation=None):
        result.append(_record("output", None, out))
    return _shown(result, size)


def layer_fields(model: nn.Module, input_size: IntOrPair) -> list[ReceptiveField]:
    """The field of every submodule call's output, in the order the calls end, named by
    submodule (a module called twice, a shared ReLU say, has two records).

    Raises ``TraceFailed`` (a ``ValueError``) when ``torch.fx`` cannot trace the model; then
    ``receptive_field(model, input_size, at=name)`` measures one submodule by gradients.
    """
    size = as_pair(input_size, "input_size", 1)
    traced = trace(model)
    fields, _ = _walk(traced.steps, size)
    records = []
    for name, i in traced.calls:
        step, field = traced.steps[i], fields[i]
        if field is None:
            field = replace(_UNKNOWN, note=f"{name}: its output is made from constants only")
        records.append(_record(name, step.layer if step.kind == "layer" else None, field))
    return _shown(records, size) if records else records


# ---------------------------------------------------------------------------------------------
# Following the steps
# ---------------------------------------------------------------------------------------------


def _walk(steps: list[Step], size: Pair | None) -> tuple[list[_Field], list[tuple]]:
    """The field of every step, and ``(record, step index)`` for each layer step."""
    fields: list[_Field] = []
    records: list[tuple[ReceptiveField, int]] = []
    for i, step in enumerate(steps):
        if step.kind == "input":
            field = _Field((1, 1), (1, 1), (0.0, 0.0), size)
        elif step.kind == "constant":
            field = None
        else:
            field = _through(step, [fields[j] for j in step.inputs if fields[j] is not None])
        fields.append(field)
        if field is not None and (step.kind in ("layer", "adaptive", "global", "whole")
                                  or step.kind == "dense" and field.whole):
            records.append((_record(step.name, step.layer, field), i))
    return fields, records


def _through(step: Step, inputs: list[_Field]) -> _Field | None:
    """The field after ``step``, from the fields of its inputs."""
    if not inputs:  # made from constants only
        return None
    f = _union(inputs, step.name)
    if step.kind == "layer":
        return _layer(step, f)
    if step.kind == "adaptive":
        return _adaptive(step, f)
    if step.kind == "global" or step.kind == "whole" or step.kind == "dense" and f.flat:
        return _Field(None, None, None, (1, 1) if step.kind == "global" else None, whole=True)
    if step.kind == "unknown":
        return replace(_UNKNOWN, note=f"{step.name}: {step.note}")
    return replace(f, flat=f.flat or step.kind == "flatten")


def _layer(step: Step, f: _Field) -> _Field:
    spec = step.layer
    size = f.size if spec.same else None
    if f.size is not None and not spec.same:
        args = [f.size, spec.kernel_size, spec.stride, spec.padding, spec.dilation]
        if all(v[0] == v[1] for v in args):  # one axis: the message needs no "height:"
            args = [v[0] for v in args]
        try:
            out = (pool_output_size(*args, ceil_mode=spec.ceil_mode) if spec.pool
                   else conv_output_size(*args))
        except ValueError as err:
            raise ValueError(f"input_size: the map vanishes at layer {step.name!r}: "
                             f"{err}") from None
        size = as_pair(out, "out_size", 1)
    if f.rf is None:  # nothing local to follow: a global summary stays global
        return replace(f, size=size, flat=False)
    jump, rf, start = [], [], []
    for a in range(2):
        k, s, p, d = (spec.kernel_size[a], spec.stride[a], spec.padding[a], spec.dilation[a])
        start.append(f.start[a] + (d * (k - 1) / 2 - p) * f.jump[a])
        rf.append(f.rf[a] + d * (k - 1) * f.jump[a])
        jump.append(f.jump[a] * s)
    return _Field(tuple(jump), tuple(rf), tuple(start), size, f.whole, note=f.note)


def _adaptive(step: Step, f: _Field) -> _Field:
    """An adaptive pool is an ordinary pool when its output size divides the map's size."""
    if f.size is None:
        return replace(_UNKNOWN, note=f"{step.name}: an adaptive pool's windows depend on the "
                                      "input size: give input_size")
    kernel = []
    for n, o in zip(f.size, step.output_size, strict=True):
        o = n if o is None else o
        if n % o:
            return replace(_UNKNOWN, note=f"{step.name}: an adaptive pool from {n} to {o} "
                                          "positions uses windows of uneven size")
        kernel.append(n // o)
    k = (kernel[0], kernel[1])
    return _layer(replace(step, layer=Layer(k, k, (0, 0), (1, 1), pool=True)), f)


def _union(inputs: list[_Field], name: str) -> _Field:
    """What a unit sees through several branches: the union of their regions."""
    if len(inputs) == 1:
        return inputs[0]
    whole = any(f.whole for f in inputs)
    unknown = [f for f in inputs if f.rf is None and not f.whole]
    local = [f for f in inputs if f.rf is not None]
    size = next((f.size for f in local + inputs if f.size is not None), None)
    if unknown:
        return replace(unknown[0], size=size)
    if not local:
        return _Field(None, None, None, size, whole=True)
    jumps = {f.jump for f in local}
    if len(jumps) > 1:
        return replace(_UNKNOWN, size=size, note=f"{name}: branches are misaligned, their "
                       f"units are {' and '.join(str(j) for j in sorted(jumps))} pixels apart")
    low = [min(f.start[a] - (f.rf[a] - 1) / 2 for f in local) for a in range(2)]
    high = [max(f.start[a] + (f.rf[a] - 1) / 2 for f in local) for a in range(2)]
    notes = [f.note for f in local if f.note]
    if len({f.start for f in local}) > 1:
        notes.append(f"{name}: the branches' regions are not centred alike")
    return _Field(local[0].jump, tuple(round(high[a] - low[a]) + 1 for a in range(2)),
                  tuple((low[a] + high[a]) / 2 for a in range(2)), size, whole,
                  any(f.flat for f in inputs), "; ".join(dict.fromkeys(notes)))


def _record(name: str, layer: Layer | None, f: _Field) -> ReceptiveField:
    note = f.note
    if f.whole and f.rf is not None:
        note = "; ".join(filter(None, [note, "every input pixel also reaches it through a "
                                             "global summary (such as squeeze-excitation)"]))
    return ReceptiveField(
        name, *((layer.kernel_size, layer.stride, layer.padding, layer.dilation) if layer
                else (None,) * 4),
        out_size=f.size, jump=f.jump, rf=f.rf, start=f.start, whole=f.whole, note=note)


def _shown(records: list[ReceptiveField], size: Pair | None) -> list[ReceptiveField]:
    """Pairs shown as ints when every layer and the input are square."""
    keys = ("kernel_size", "stride", "padding", "dilation", "out_size", "jump", "rf", "start")
    square = (size is None or size[0] == size[1]) and all(
        getattr(r, k) is None or getattr(r, k)[0] == getattr(r, k)[1]
        for r in records for k in keys)
    if not square:
        return records
    return [replace(r, **{k: getattr(r, k)[0] for k in keys if getattr(r, k) is not None})
            for r in records]


def _steps_of_tuples(layers: Sequence) -> list[Step]:
    """A chain of ``(kernel, stride, padding[, dilation])`` tuples as steps."""
    if len(layers) == 0:
        raise ValueError("model must hold at least one (kernel, stride, padding) tuple")
    steps = [Step("input", "input")]
    for i, spec in enumerate(layers):
        where = f"model[{i}]"
        if isinstance(spec, str) or not isinstance(spec, Sequence) or len(spec) not in (3, 4):
            raise ValueError(f"{where} must be a tuple (kernel, stride, padding) or "
                             f"(kernel, stride, padding, dilation), got {spec!r}")
        kernel, stride, padding, *rest = spec
        layer = Layer(as_pair(kernel, f"{where} kernel", 1), as_pair(stride, f"{where} stride", 1),
                      as_pair(padding, f"{where} padding"),
                      as_pair(rest[0] if rest else 1, f"{where} dilation", 1), pool=False)
        steps.append(Step(f"layer{i + 1}", "layer", (i,), layer))
    return steps


def _measured(model: nn.Module, size: Pair | None, at: str | None,
              failure: TraceFailed) -> list[ReceptiveField] | ReceptiveField:
    """The field of the output (or of ``at``), measured by backpropagating from two units."""
    if size is None:
        raise ValueError(f"input_size: {failure}. Give input_size so that the field can be "
                         "measured by gradients instead") from None
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    shape = (first.in_channels if first is not None else 3, *size)
    probe = linear_probe(model)
    try:
        seen = gradient_footprint(probe, shape, at=at)
        if seen.unit is None:
            rec = ReceptiveField(at or "output", None, None, None, None, None, None, None,
                                 None, whole=seen.everything)
        else:
            row, col = seen.unit  # the centre unit; its neighbour up and left gives the jump
            jump = start = None
            if row and col:
                prev = gradient_footprint(probe, shape, (row - 1, col - 1), at=at)
                jump = (round(seen.centre[0] - prev.centre[0]),
                        round(seen.centre[1] - prev.centre[1]))
                start = (seen.centre[0] - row * jump[0], seen.centre[1] - col * jump[1])
            rf = (seen.bottom - seen.top + 1, seen.right - seen.left + 1)
            rec = ReceptiveField(at or "output", None, None, None, None, None, jump, rf, start,
                                 note="the field reaches the image border and may go on "
                                      "beyond it" if seen.clipped else "")
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(f"input_size {size}: {failure}, and measuring by gradients failed "
                         f"too: {err}") from None
    note = f"measured by gradients on a {size[0]} x {size[1]} input, since {failure}"
    [rec] = _shown([replace(rec, note="; ".join(filter(None, [note, rec.note])))], size)
    return rec if at is not None else [rec]


@dataclass(frozen=True)
class Region:
    """The input pixels one unit sees: rows ``top..bottom`` and columns ``left..right``
    (inclusive, input coordinates). Parts outside the image are padding."""

    top: float
    bottom: float
    left: float
    right: float
    height: int
    width: int
    centre: tuple[float, float]


def unit_region(record: ReceptiveField, row: int, col: int) -> Region:
    """The input region of unit ``(row, col)`` of the layer ``record`` describes: ``rf``
    pixels a side, centred at ``start + index * jump`` on each axis."""
    as_int(row, "row")
    as_int(col, "col")
    if record.rf is None:
        raise ValueError(f"record: layer {record.name!r} has no local region: "
                         + ("every input pixel reaches it" if record.whole else record.note))
    if record.out_size is not None:
        out_h, out_w = _both(record.out_size)
        if row >= out_h or col >= out_w:
            raise ValueError(f"unit ({row}, {col}) is outside layer {record.name!r}, whose "
                             f"output is {out_h} x {out_w}: use row < {out_h}, col < {out_w}")
    (jh, jw), (rh, rw), (sh, sw) = _both(record.jump), _both(record.rf), _both(record.start)
    cy, cx = sh + row * jh, sw + col * jw
    return Region(cy - (rh - 1) / 2, cy + (rh - 1) / 2, cx - (rw - 1) / 2, cx + (rw - 1) / 2,
                  rh, rw, (cy, cx))


def _both(value: IntOrPair | float | tuple[float, float]) -> tuple:
    """A record's field as a ``(height, width)`` pair."""
    return value if isinstance(value, tuple) else (value, value)


__all__ = ["ReceptiveField", "Region", "layer_fields", "receptive_field", "unit_region"]
