"""Try-this tasks of the convolution explorers: kernels, arithmetic, channels, the matrix,
pooling and receptive fields. Every answer is read from the scene of the task's case."""

from __future__ import annotations

from dataclasses import replace

from ._task import Task, task


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def nearest(value: float, choices: dict[str, float]) -> str:
    """The choice whose number is closest to ``value``."""
    return min(choices, key=lambda name: abs(choices[name] - value))


def _side(n: int) -> str:
    return f"{n} x {n}"


# -- kernels -----------------------------------------------------------------------------

def _kernel_size(scene, _):
    n = scene.x.shape[-1]
    return _side(scene.out_size), (f"the window fits {scene.out_size} times across the "
                                   f"{n}-pixel input: {_plain(scene.formula)}")


def _plain(formula_html: str) -> str:
    """The last line of a formula's HTML, as text."""
    text = formula_html.split("<br>")[-1]
    for tag in ("<code>", "</code>", "<b>", "</b>"):
        text = text.replace(tag, "")
    return text.replace("&rarr;", "->")


def _kernel_negative(scene, _):
    low = float(scene.out.min())
    return yes_no(low < 0), (f"the smallest output is {low:.2f}: sharpen weighs the centre +5 "
                             "and its four neighbours -1, so next to a stroke the neighbours win")


KERNEL = (
    task("A 3x3 kernel slides over the 28 x 28 digit with no padding, stride 1. How big is "
         "the output map?", ("28 x 28", "26 x 26", "25 x 25"),
         {"image": "digit", "kernel": "identity", "padding": 0, "stride": 1, "dilation": 1},
         _kernel_size),
    task("Now padding 1 and stride 2. How big is the output?", ("28 x 28", "14 x 14", "13 x 13"),
         {"image": "digit", "kernel": "identity", "padding": 1, "stride": 2, "dilation": 1},
         _kernel_size),
    task("Dilation 2 spreads the 3x3 taps over a 5x5 area. Padding 0, stride 1: how big is "
         "the output?", ("26 x 26", "24 x 24", "28 x 28"),
         {"image": "digit", "kernel": "identity", "padding": 0, "stride": 1, "dilation": 2},
         _kernel_size),
    task("The 'sharpen' kernel on a digit: is any output pixel negative, although every input "
         "pixel is between 0 and 1?", ("yes", "no"),
         {"image": "digit", "kernel": "sharpen", "padding": 0, "stride": 1, "dilation": 1},
         _kernel_negative),
)

# -- convolution arithmetic --------------------------------------------------------------

CUSTOM = {"preset": "custom", "mode": "convolution", "output_padding": 0, "dilation": 1}


def _out(scene, _):
    return str(scene.out_size), _plain(scene.formula)


def _same(scene, _):
    s = scene.settings
    return (f"padding {s.padding}, output {scene.out_size}",
            f"'same' pads (k-1)/2 = {s.padding} on each side, so the output keeps the "
            f"input's size {s.n}")


ARITHMETIC = (
    task("Input 7, kernel 3, padding 1, stride 2: how big is the output?", ("3", "4", "7"),
         {**CUSTOM, "n": 7, "kernel_size": 3, "padding": 1, "stride": 2}, _out),
    task("The 'same' preset with kernel 5 on an input of 9: which padding does it pick, and "
         "what comes out?",
         ("padding 1, output 7", "padding 2, output 9", "padding 4, output 13"),
         {**CUSTOM, "n": 9, "kernel_size": 5, "stride": 1, "preset": "same"}, _same),
    task("Kernel 3 with dilation 2 on an input of 5, no padding: how big is the output?",
         ("1", "3", "5"),
         {**CUSTOM, "n": 5, "kernel_size": 3, "padding": 0, "stride": 1, "dilation": 2}, _out),
    task("Transposed mode, input 3, kernel 3, stride 2, no padding: how big is the output?",
         ("5", "6", "7"),
         {**CUSTOM, "mode": "transposed", "n": 3, "kernel_size": 3, "padding": 0,
          "stride": 2}, _out),
)

# -- channels ----------------------------------------------------------------------------


def _weight_shape(scene, _):
    shape = list(scene.weight.shape)
    return str(shape), (f"one filter per output channel ({shape[0]}), each as deep as the "
                        f"input's {shape[1]} colour channels, {shape[2]} x {shape[3]} wide")


def _weight_count(scene, _):
    w = scene.weight
    return str(w.numel()), " x ".join(str(d) for d in w.shape) + f" = {w.numel()}"


def _map_size(scene, _):
    h, n = scene.out.shape[-1], scene.x.shape[-1]
    k = scene.settings.kernel_size
    return _side(h), f"{n} - {k} + 1 = {h}: without padding each map loses k - 1 pixels"


CHANNELS = (
    task("2 output channels, kernel 1, on a colour (RGB) image: what is the weight's shape "
         "[out, in, kh, kw]?", ("[2, 3, 1, 1]", "[3, 2, 1, 1]", "[2, 1, 1, 1]"),
         {"out_channels": 2, "kernel_size": 1, "padding": 0}, _weight_shape),
    task("4 output channels, kernel 3: how many weights (no bias)?", ("36", "108", "12"),
         {"out_channels": 4, "kernel_size": 3, "padding": 1}, _weight_count),
    task("Kernel 5, padding 0, on the 32 x 32 image: how big is each output map?",
         ("32 x 32", "28 x 28", "30 x 30"),
         {"image": "shapes", "kernel_size": 5, "padding": 0}, _map_size),
)

# -- convolution as a matrix -------------------------------------------------------------


def _matrix_shape(scene, _):
    rows, cols = scene.result.matrix.shape
    return (f"{rows} x {cols}", f"one row per output pixel ({rows}), one column per input "
                                f"pixel ({cols})")


def _zeros(scene, _):
    rows, cols = scene.result.matrix.shape
    share = 1 - scene.tied / (rows * cols)
    return (nearest(share, {"about a quarter": 0.25, "about half": 0.5,
                            "about three quarters": 0.75}),
            f"{rows * cols - scene.tied} of {rows * cols} entries ({share:.0%}) are zeros "
            "that no weight fills: each output reads only its window")


def _equal(scene, _):
    return (yes_no(scene.equal),
            f"the largest difference from F.conv2d is {scene.difference:.2g}")


MATMUL = (
    task("Input 4 x 4, kernel 2, no padding, stride 1: how many rows and columns has the "
         "matrix?", ("16 x 16", "9 x 16", "4 x 9"),
         {"n": 4, "kernel_size": 2, "padding": 0, "stride": 1}, _matrix_shape),
    task("Same case: what share of the matrix entries are always zero?",
         ("about a quarter", "about half", "about three quarters"),
         {"n": 4, "kernel_size": 2, "padding": 0, "stride": 1}, _zeros),
    task("Random weights, input 5, kernel 3, padding 1, stride 2: does M @ x equal "
         "F.conv2d's output?", ("yes", "no"),
         {"weights": "random", "n": 5, "kernel_size": 3, "padding": 1, "stride": 2}, _equal),
)

# -- pooling -----------------------------------------------------------------------------


def _pool_size(scene, _):
    return _side(scene.out_size), scene.formula


def _heads(scene, _):
    ratio = scene.flatten_parameters / scene.gap_parameters
    choice = ("flatten, over 30 times as many" if ratio > 30 else
              "about the same" if 0.5 < ratio < 2 else "global average pool")
    return choice, (f"Linear({scene.flatten_inputs}, 10) has {scene.flatten_parameters:,} "
                    f"parameters, Linear({len(scene.gap)}, 10) {scene.gap_parameters:,}")


def _max_or_avg(scene, scene_for):
    other = scene_for(replace(scene.settings, mode="avg"))
    high, mean = scene.gap[0], other.gap[0]
    choice = "max pool" if high > mean else "average pool" if mean > high else "the same"
    return choice, (f"global average after max pool {high:.3f}, after average pool "
                    f"{mean:.3f}: a window's max is never below its mean")


POOLING = (
    task("Max pool, kernel 2, stride 2, on the 28 x 28 digit: how big is the output?",
         ("27 x 27", "14 x 14", "13 x 13"),
         {"source": "digit", "mode": "max", "kernel_size": 2, "stride": 2, "padding": 0},
         _pool_size),
    task("Four edge maps pooled 2x2: which classifier head needs more parameters, flatten "
         "or global average pool?",
         ("flatten, over 30 times as many", "about the same", "global average pool"),
         {"source": "edge feature maps (4 channels)", "mode": "max", "kernel_size": 2,
          "stride": 2, "padding": 0}, _heads),
    task("On the digit, kernel 3, stride 3: which pool gives the larger global average, max "
         "or average?", ("max pool", "average pool", "the same"),
         {"source": "digit", "mode": "max", "kernel_size": 3, "stride": 3, "padding": 0},
         _max_or_avg),
)

# -- receptive fields --------------------------------------------------------------------


def _rf(scene, _):
    rec = scene.records[scene.settings.layer - 1]
    return str(rec.rf), (f"{rec.name}: receptive field {rec.rf}, jump {rec.jump}; each layer "
                         "adds (k - 1) x the jump of the layer before")


def _growth(scene, _):
    fields = [rec.rf for rec in scene.records]
    steps = {b - a for a, b in zip(fields, fields[1:], strict=False)}
    choice = f"by {steps.pop()} pixels" if len(steps) == 1 else "it doubles"
    return choice, "fields " + ", ".join(map(str, fields)) + ": with jump 1 each 3x3 adds 2"


RECEPTIVE = (
    task("Lesson CNN, layer 2: how many input pixels wide is the region one unit sees?",
         ("5", "9", "17"), {"stack": "lesson CNN", "layer": 2}, _rf),
    task("'3x3 convs, no downsampling': how does the receptive field grow from layer to "
         "layer?", ("by 2 pixels", "by 3 pixels", "it doubles"),
         {"stack": "3x3 convs, no downsampling", "layer": 4}, _growth),
    task("'dilated 3x3 (1, 2, 4)', layer 3: how wide is the receptive field?",
         ("7", "9", "15"), {"stack": "dilated 3x3 (1, 2, 4)", "layer": 3}, _rf),
)

TASKS: dict[str, tuple[Task, ...]] = {
    "KernelExplorer": KERNEL,
    "ConvArithmeticExplorer": ARITHMETIC,
    "ChannelsExplorer": CHANNELS,
    "ConvAsMatmulExplorer": MATMUL,
    "PoolingExplorer": POOLING,
    "ReceptiveFieldExplorer": RECEPTIVE,
}
