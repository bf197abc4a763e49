"""Try-this tasks of the training explorers: gradients, losses, optimizers, the 1-cycle
schedule, training, the drawn digit and the model inspector. Every answer is read from the
scene of the task's case (and, to compare, the scene of one other setting)."""

from __future__ import annotations

import math
from dataclasses import replace

from ._task import Task, task
from ._tasks_conv import nearest, yes_no

# -- gradients ---------------------------------------------------------------------------


def _receivers(scene, _):
    n = scene.receivers
    top, left, bottom, right = scene.window
    return str(n), (f"{n} of the {(bottom - top + 1) * (right - left + 1)} pixels of the window "
                    "receive a gradient")


def _receivers_max(scene, _):
    choice, why = _receivers(scene, _)
    return choice, why + ": only the largest one decided the output"


def _receivers_conv(scene, _):
    choice, why = _receivers(scene, _)
    zeros = int((scene.weight == 0).sum())
    return choice, why + f": {zeros} of top_edge's 9 weights are 0, and pass nothing back"


POOL = {"index": 0, "stride": 2, "padding": 0, "pool_size": 2, "row": 2, "col": 2}
GRADIENT = (
    task("Max pool 2x2: how many input pixels receive a gradient from one output pixel?",
         ("1", "2", "4"), {**POOL, "layer": "max pool"}, _receivers_max),
    task("Average pool 2x2: how many input pixels receive a gradient from one output pixel?",
         ("1", "2", "4"), {**POOL, "layer": "average pool"}, _receivers),
    task("A 3x3 convolution with the top_edge weights (rows -1, 0, +1): how many of the 9 "
         "window pixels receive a gradient?", ("9", "6", "3"),
         {"layer": "convolution", "kernel": "top_edge", "stride": 1, "padding": 0, "row": 2,
          "col": 3}, _receivers_conv),
)

# -- losses ------------------------------------------------------------------------------


def _slope(scene, _):
    return f"{scene.slope:g}", f"{scene.settings.loss} at {scene.settings.point:g}: " \
                               f"loss {scene.value:.3g}, slope {scene.slope:.3g}"


def _mae_slopes(scene, scene_for):
    near = scene_for(replace(scene.settings, point=0.5))
    same = math.isclose(scene.slope, near.slope)
    choice = "it stays the same" if same else (
        "it grows" if abs(scene.slope) > abs(near.slope) else "it shrinks")
    return choice, (f"slope {near.slope:g} at error 0.5 and {scene.slope:g} at 2.5: MAE pulls "
                    "every error back equally hard")


def _zero_loss(scene, scene_for):
    other = scene_for(replace(scene.settings, loss="cross-entropy"))
    zero = [name for name, s in (("hinge", scene), ("cross-entropy", other)) if s.value == 0]
    choice = "both" if len(zero) == 2 else zero[0] if zero else "neither"
    return choice, (f"hinge {scene.value:.3g}, cross-entropy {other.value:.3g}: cross-entropy "
                    "keeps pushing a right answer further")


LOSS = (
    task("MSE at error 2: what is the slope of the loss?", ("1", "2", "4"),
         {"loss": "MSE", "point": 2.0}, _slope),
    task("MAE: compare the slope at error 2.5 with the slope at 0.5.",
         ("it grows", "it stays the same", "it shrinks"), {"loss": "MAE", "point": 2.5},
         _mae_slopes),
    task("Huber with delta 1 at error 2.5: what is the slope?", ("1", "2.5", "5"),
         {"loss": "Huber", "delta": 1.0, "point": 2.5}, _slope),
    task("At margin 2 (the right class wins by 2), which loss is exactly zero?",
         ("hinge", "cross-entropy", "both", "neither"), {"loss": "hinge", "point": 2.0},
         _zero_loss),
)

# -- optimizers --------------------------------------------------------------------------


def _arrives(scene, _):
    step = scene.arrived_at
    return yes_no(step is not None), (f"it arrives at step {step}" if step is not None else
                                      f"after {scene.settings.steps} steps it is still "
                                      f"{math.dist(scene.path[-1], scene.minimum):.2f} away")


def _momentum(scene, scene_for):
    plain = scene_for(replace(scene.settings, momentum=0.0))
    steps = [math.inf if s.arrived_at is None else s.arrived_at for s in (scene, plain)]
    choice = ("fewer with momentum" if steps[0] < steps[1] else
              "more with momentum" if steps[0] > steps[1] else "the same")
    return choice, f"momentum 0.5: step {steps[0]}; plain SGD: step {steps[1]}"


def _diverges(scene, _):
    return yes_no(scene.diverged), (f"the path ends {math.dist(scene.path[-1], scene.minimum):.3g}"
                                    " from the minimum")


def _decay(scene, _):
    far, plain = math.hypot(*scene.minimum), math.hypot(3.0, 1.0)
    choice = ("towards (0, 0)" if far < plain - 1e-9 else "away from (0, 0)"
              if far > plain + 1e-9 else "it stays")
    x, y = scene.minimum
    return choice, f"the minimum moves from (3, 1) to ({x:.2f}, {y:.2f})"


SGD = {"momentum": 0.0, "weight_decay": 0.0, "compare": True}
OPTIMIZER = (
    task("lr 0.4, no momentum, 40 steps: does plain SGD reach the minimum?", ("yes", "no"),
         {**SGD, "lr": 0.4, "steps": 40}, _arrives),
    task("lr 0.4, 200 steps: with momentum 0.5, does it reach the minimum in fewer steps "
         "than plain SGD?", ("fewer with momentum", "the same", "more with momentum"),
         {**SGD, "lr": 0.4, "steps": 200, "momentum": 0.5}, _momentum),
    task("lr 0.55, no momentum: does the path leave the valley (diverge)?", ("yes", "no"),
         {**SGD, "lr": 0.55, "steps": 40}, _diverges),
    task("Weight decay 0.5: where does the minimum move?",
         ("towards (0, 0)", "it stays", "away from (0, 0)"),
         {**SGD, "lr": 0.1, "weight_decay": 0.5}, _decay),
)

# -- 1-cycle -----------------------------------------------------------------------------

CYCLE = {"max_lr": 0.01, "total_steps": 200, "pct_start": 0.3, "div_factor": 25.0,
         "three_phase": False}


def _peak(scene, _):
    peak = max(range(len(scene.lrs)), key=scene.lrs.__getitem__)
    return (nearest(peak, {"about step 30": 30, "about step 60": 60, "step 100": 100}),
            f"the learning rate peaks at step {peak}: pct_start 0.3 of 200 steps warm up")


def _first_lr(scene, _):
    first = scene.lrs[0]
    return (nearest(math.log10(first), {"0.0004": math.log10(4e-4), "0.01": -2.0,
                                        "0.25": math.log10(0.25)}),
            f"it starts at max_lr / div_factor = {first:.2g}")


def _momentum_at_peak(scene, _):
    peak = max(range(len(scene.lrs)), key=scene.lrs.__getitem__)
    m = scene.moms[peak]
    choice = ("at its lowest" if math.isclose(m, min(scene.moms)) else
              "at its highest" if math.isclose(m, max(scene.moms)) else "in between")
    return choice, (f"momentum {m:.2f} at step {peak}, from {min(scene.moms):.2f} to "
                    f"{max(scene.moms):.2f}: it moves against the learning rate")


ONE_CYCLE = (
    task("200 steps with pct_start 0.3: at which step is the learning rate highest?",
         ("about step 30", "about step 60", "step 100"), CYCLE, _peak),
    task("max_lr 0.01 and div_factor 25: what learning rate does training start with?",
         ("0.0004", "0.01", "0.25"), CYCLE, _first_lr),
    task("When the learning rate is at its peak, where is the momentum?",
         ("at its highest", "in between", "at its lowest"), CYCLE, _momentum_at_peak),
)

# -- training ----------------------------------------------------------------------------


def _bn_parameters(scene, scene_for):
    without = scene_for(replace(scene.settings, batchnorm=False)).parameters
    more = scene.parameters - without
    choice = ("with batch norm" if more > 0 else "without batch norm" if more < 0 else
              "the same")
    return choice, (f"{scene.parameters:,} with, {without:,} without: batch norm learns a "
                    "scale and a shift per channel")


def _steps_ratio(scene, scene_for):
    small = scene_for(replace(scene.settings, batch_size=64)).steps_per_epoch
    ratio = small / scene.steps_per_epoch
    return (nearest(ratio, {"about 4 times fewer": 4, "the same": 1, "about 4 times more": 0.25}),
            f"{small} steps an epoch at batch 64, {scene.steps_per_epoch} at batch 256")


TRAINING = (
    task("Which CNN has more parameters to learn: with batch norm or without?",
         ("with batch norm", "the same", "without batch norm"), {"batchnorm": True},
         _bn_parameters),
    task("Batch size 64 -> 256: how many steps does one epoch take now?",
         ("about 4 times fewer", "the same", "about 4 times more"),
         {"batch_size": 256}, _steps_ratio),
)

# -- the drawn digit ---------------------------------------------------------------------


def _maps(scene, _):
    c, h, w = scene.shape
    return f"{c} maps of {h} x {w}", "each block doubles the maps and halves their size"


def _whole(scene, _):
    rf = scene.record.rf
    return (yes_no(rf is not None and rf >= 28),
            f"a unit of {scene.record.name} sees {rf} x {rf} input pixels")


def _digit_rf(scene, _):
    return str(scene.record.rf), f"{scene.record.name}: a 5x5 kernel sees 5 pixels"


DRAW = (
    task("Layer block2: how many feature maps are there, and how big?",
         ("8 maps of 14 x 14", "16 maps of 7 x 7", "32 maps of 4 x 4"),
         {"example": 0, "layer": "block2"}, _maps),
    task("Layer block1: how many input pixels wide is the region one unit sees?",
         ("3", "5", "9"), {"example": 0, "layer": "block1"}, _digit_rf),
    task("The last layer (head): can one unit see the whole 28 x 28 digit?", ("yes", "no"),
         {"example": 0, "layer": "head"}, _whole),
)

# -- inside a model ----------------------------------------------------------------------

LESSON = {"model": "lesson CNN", "image": "MNIST digit", "index": 0, "input_size": 28}


def _most_parameters(scene, _):
    row = max(scene.rows, key=lambda r: r.params)
    return row.name, f"{row.name} holds {row.params:,} of the {scene.params:,} parameters"


def _bigger_input(scene, scene_for):
    small = scene_for(replace(scene.settings, input_size=28))
    same_params = scene.params == small.params
    more_macs = scene.macs > small.macs
    choice = ("parameters stay, multiply-adds grow" if same_params and more_macs else
              "both stay the same" if same_params else "both grow")
    return choice, (f"parameters {small.params:,} -> {scene.params:,}; multiply-adds "
                    f"{small.macs:,} -> {scene.macs:,}: a kernel is reused at every position")


def _shape(scene, _):
    row = scene.row
    return str(tuple(row.out_shape[1:])), f"{row.name} outputs {tuple(row.out_shape)}"


MODEL = (
    task("Lesson CNN: which layer holds the most parameters?",
         ("block1.conv", "block4.conv", "head.conv"), {**LESSON, "layer": 0}, _most_parameters),
    task("Lesson CNN on a 28 x 28 digit: what shape (channels, height, width) does block2.conv "
         "output?", ("(8, 14, 14)", "(16, 7, 7)", "(16, 14, 14)"), {**LESSON, "layer": 3},
         _shape),
    task("Lesson CNN, input 28 -> 64: what happens to the parameters and the multiply-adds?",
         ("both stay the same", "parameters stay, multiply-adds grow", "both grow"),
         {**LESSON, "input_size": 64}, _bigger_input),
)

TASKS: dict[str, tuple[Task, ...]] = {
    "GradientExplorer": GRADIENT,
    "LossExplorer": LOSS,
    "OptimizerExplorer": OPTIMIZER,
    "OneCycleExplorer": ONE_CYCLE,
    "TrainingExplorer": TRAINING,
    "DrawDigitExplorer": DRAW,
    "ModelExplorer": MODEL,
}
