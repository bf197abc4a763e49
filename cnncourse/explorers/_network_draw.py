"""NetworkExplorer's ``draw``: only what changed is painted again.

The overview rows and the class scores depend on the input alone: their pictures are kept per
input (``explorer._rows``), and a change of layer or map only outlines other tiles (one or two
rows encoded again; ``_render.show`` skips a picture identical to the one shown). A step of
the window repaints the detail picture and the sums, nothing else.
"""

from __future__ import annotations

from cnncourse.colours import hex_colour

from . import _network_view as nv
from . import _render as r

INPUT = "input"


def _n(value: float) -> str:
    text = f"{value:.3f}"
    return f"({text})" if value < 0 else text


def _rows(explorer, scene) -> dict:
    """The overview pictures of this input: one row per layer, the scores, the labels."""
    rows = explorer._rows.get(scene.key)
    if rows is None:
        if len(explorer._rows) >= 8:
            explorer._rows.clear()
        maps = {INPUT: scene.image[None], **scene.maps}
        rows = {name: (nv.overview_row(m), tuple(m.shape)) for name, m in maps.items()}
        rows["labels"] = {name: (f"<b>{name}</b><br><small>{m.shape[0]} map"
                                 f"{'s' if m.shape[0] > 1 else ''} of {m.shape[1]} x "
                                 f"{m.shape[2]}</small>") for name, m in maps.items()}
        rows["scores"] = nv.scores_picture(scene.probabilities, scene.label)
        explorer._rows[scene.key] = rows
    return rows


def _sums(scene) -> str:
    """The dot product written out, from the window to the model's own activation."""
    v, w = scene.settings, scene.conv
    c_in, k = w.window.shape[0], w.window.shape[-1]
    read = ("the digit, normalised as in training: (pixel &minus; mean) / std"
            if v.layer == scene.layers[0][0] else "the layer before")
    channel = v.in_channel
    terms = " + ".join(f"{_n(float(a))}&times;{_n(float(b))}" for a, b in
                       zip(w.window[channel].flatten(), w.kernel[channel].flatten(),
                           strict=True))
    partial = w.products.sum(dim=(1, 2))
    lines = [
        f"unit ({scene.row}, {scene.col}) of map {v.channel} in <code>{v.layer}</code>: a "
        f"{k}x{k} window of {read} ({c_in} map{'s' if c_in > 1 else ''}, stride "
        f"{scene.stride}, padding {scene.padding}), rows {w.top}..{w.top + k - 1}, columns "
        f"{w.left}..{w.left + k - 1}",
        f"input map {channel}: window &middot; kernel = {terms} = "
        f"<b>{float(partial[channel]):.4f}</b>",
    ]
    if c_in > 1:
        lines.append(f"all {c_in} input maps: " + " + ".join(_n(float(p)) for p in partial)
                     + f" = <b>{float(partial.sum()):.4f}</b>")
    lines.append(f"+ bias {w.bias:.4f} = <b>{w.value:.4f}</b> &larr; the model's own conv "
                 f"output here: {scene.conv_output:.4f}")
    if scene.norm is not None:
        mean, var, eps, gamma, beta, model = scene.norm
        lines.append(f"batch norm: ({w.value:.4f} &minus; {_n(mean)}) / &radic;({var:.4f} + "
                     f"{eps:g}) &times; {_n(gamma)} + {_n(beta)} = {model:.4f}")
    if scene.relu:
        lines.append(f"ReLU: max(0, &hellip;) = <b>{scene.computed:.4f}</b> &larr; the block's "
                     f"output (what the overview shows): {scene.activation:.4f}")
    else:
        lines.append(f"no ReLU in <code>{v.layer}</code>: <b>{scene.computed:.4f}</b> is its "
                     f"output, the model's: {scene.activation:.4f}")
    return "<div style='font-family:monospace;font-size:12px;line-height:1.6'>" + \
        "<br>".join(lines) + "</div>"


def draw_scene(explorer, scene) -> None:
    c, v = explorer.controls, scene.settings
    shapes = dict(scene.layers)
    channels, height, width = shapes[v.layer]
    c_in = scene.source.shape[0]
    c["layer"].options = [name for name, _ in scene.layers] if tuple(c["layer"].options) != \
        tuple(name for name, _ in scene.layers) else c["layer"].options
    c["channel"].max, c["in_channel"].max = channels - 1, c_in - 1
    c["position"].max = explorer.play.max = height * width - 1

    rows = _rows(explorer, scene)
    names = [name for name, _ in scene.layers]
    before = ([INPUT] + names)[names.index(v.layer)]
    for name, widget in explorer.row_images.items():
        base, shape = rows[name]
        boxes = [(v.channel, r.HIGHLIGHT)] if name == v.layer else []
        boxes += [(v.in_channel, nv.READ)] if name == before else []
        key = (scene.key, tuple(boxes))
        if explorer._row_keys.get(name) != key:  # only rows whose outlines moved
            r.show(widget, nv.framed(base, shape, boxes))
            explorer._row_keys[name] = key
        label = rows["labels"][name]
        if explorer.row_labels[name].value != label:
            explorer.row_labels[name].value = label
    r.show(explorer.scores_image, rows["scores"])
    p = scene.probabilities
    best = int(p.argmax())
    model = ("the lesson CNN, validation accuracy " f"{scene.accuracy:.1%}" if scene.trained
             else "the untrained lesson CNN")
    truth = f"; the digit is a {scene.label}" if scene.label >= 0 else ""
    prediction = (f"<span style='color:{hex_colour(nv.BEST)};font-size:20px'>{best}</span> "
                  f"with probability {float(p[best]):.1%}{truth}<br><small>{model}</small>")
    if explorer.prediction.value != prediction:
        explorer.prediction.value = prediction
    kernel_key = (scene.key[1], v.layer, v.channel, v.in_channel)  # the model, the kernel
    pictures = nv.detail_pictures(scene, kernel_too=explorer._kernel_key != kernel_key)
    explorer._kernel_key = kernel_key
    for name, picture in pictures.items():
        r.show(explorer.detail_images[name], picture)
    captions = {"read": f"input map {v.in_channel}, padded", "output": f"output map {v.channel}"}
    for name, text in captions.items():
        if explorer.detail_captions[name].value != text:
            explorer.detail_captions[name].value = text
    explorer.sums.value = _sums(scene)
    _draw_training(explorer)


def _draw_training(explorer) -> None:
    progress = explorer._progress
    explorer.train_button.disabled = explorer.is_trained or progress is not None
    if progress is None:
        explorer.progress.layout.visibility = "hidden"
        explorer.status.value = "" if explorer.is_trained else (
            "<small>These are the <b>untrained</b> CNN's weights: press 'train the lesson "
            "CNN' to see what training makes of them (once per user, about a minute).</small>")
        return
    explorer.progress.max, explorer.progress.value = progress[1], progress[0]
    explorer.progress.layout.visibility = "visible"
    explorer.status.value = ("<small>training the lesson CNN (once per user; the weights are "
                             "cached) &hellip; until then, the untrained weights</small>")

__all__ = ["draw_scene"]
