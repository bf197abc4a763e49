"""Colours a colour-blind reader can tell apart: every pair of colours that means something
different in one picture or plot stays apart under protanopia, deuteranopia and tritanopia
(Machado et al. 2009), and no source names a red-green pair."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from cnncourse import colours
from cnncourse.colours import KINDS, distance, simulate
from cnncourse.explorers import _render as r
from cnncourse.explorers import conv_arithmetic, draw_digit, loss, one_cycle, training
from cnncourse.explorers.tasks import HELD_HTML, NOT_HELD_HTML

# CIE 1976 delta E: 2.3 is just noticeable; 15 is plain for marks and small cells.
APART = 15.0
PACKAGE = Path(__file__).resolve().parents[1] / "cnncourse"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _diverging_ends():
    negative, zero, positive = r.diverging(np.array([-1.0, 0.0, 1.0]), 1.0)
    return [tuple(negative), tuple(zero), tuple(positive)]


# Colours shown together, each meaning something else.
GROUPS = {
    "diverging map: negative, zero, positive": _diverging_ends(),
    "sequential map: low, middle, high": [tuple(c) for c in r.heat(np.array([0.0, 0.5, 1.0]))],
    "task result: held, did not hold": [colours.HELD, colours.NOT_HELD],
    "conv arithmetic: window, off the edge, done, current": [
        conv_arithmetic.WINDOW, conv_arithmetic.OFF_EDGE, conv_arithmetic.DONE, r.HIGHLIGHT],
    "training: the layers' lines": [_rgb(c) for c in training.LAYER_COLOURS],
    "training: this run, the previous one, the plan": [
        _rgb(c) for c in (training.CURRENT, training.PREVIOUS, training.PLANNED)],
    "loss: regression curves and the tangent": [
        _rgb(loss.COLOURS[n]) for n in loss.REGRESSION] + [_rgb(loss.TANGENT)],
    "loss: classification curves and the tangent": [
        _rgb(loss.COLOURS[n]) for n in loss.CLASSIFICATION] + [_rgb(loss.TANGENT)],
    "draw a digit: the likeliest bar, the others": [_rgb(draw_digit.BEST),
                                                    _rgb(draw_digit.BAR)],
    "1-cycle: learning rate, momentum": [_rgb(one_cycle.LR_COLOUR), _rgb(one_cycle.MOM_COLOUR)],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", list(GROUPS))
def test_colours_shown_together_stay_apart(group, kind):
    for a, b in itertools.combinations(GROUPS[group], 2):
        assert distance(a, b, kind) >= APART, (group, kind, a, b, distance(a, b, kind))


def test_the_check_catches_a_red_green_pair():
    red, green = (200, 0, 0), (0, 150, 0)
    assert distance(red, green) > 100  # plain to normal eyes
    assert distance(red, green, "deuteranopia") < APART  # alike to a deuteranope


def test_simulation_keeps_greys_and_refuses_unknown_kinds():
    for kind in KINDS:
        for level in (0, 128, 255):
            assert np.allclose(simulate((level,) * 3, kind), level, atol=1.0)
    with pytest.raises(ValueError, match="kind must be"):
        simulate((1, 2, 3), "achromatopsia")


def test_results_say_it_in_words_and_marks_not_only_colour():
    assert "held" in HELD_HTML and "&#10004;" in HELD_HTML
    assert "did not hold" in NOT_HELD_HTML and "&#10008;" in NOT_HELD_HTML


GREEN = re.compile(r"tab:green|#2ca02c|['\"]green['\"]|\(0, 1[0-9]{2}, 0\)", re.I)


def test_no_display_code_uses_green_as_a_meaning_colour():
    """Green is where red-green pairs begin; the RGB channels of an image are named, not
    used as colours for meaning, so only the channels module may say "green"."""
    found = []
    for path in [PACKAGE / "viz.py", PACKAGE / "drawing.py", *PACKAGE.glob("explorers/*.py")]:
        if path.name == "channels.py":
            continue
        found += [f"{path.name}: {m.group()}" for m in GREEN.finditer(path.read_text())]
    assert found == []
