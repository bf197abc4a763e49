"""The try-this tasks: each one's case gives a scene whose computed answer is one of its
choices, the panel says held for the right pick and not for a wrong one, and the answers are
the engine's."""

from __future__ import annotations

import warnings

import pytest

from cnncourse.arithmetic import conv_output_size, conv_transpose_output_size, pool_output_size
from cnncourse.data import ImageData, load_mnist
from cnncourse.explorers import ALL, Explorer, Problem, TaskPanel, explorer_tasks
from cnncourse.explorers.tasks import Task, apply, check, task
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS

CASES = [(name, i) for name in ALL for i in range(len(explorer_tasks(name)))]
_instances: dict[str, Explorer] = {}


def _explorer(name: str, tmp_path_factory) -> Explorer:
    """One explorer per class; the drawn-digit CNN trains on a few digits, in a private cache."""
    if name not in _instances:
        if name in ("DrawDigitExplorer", "CamExplorer"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = load_mnist()
            tiny = ImageData(data.train_x[:64], data.train_y[:64], data.valid_x[:16],
                             data.valid_y[:16])
            _instances[name] = ALL[name](data=tiny, cache_dir=tmp_path_factory.mktemp("w"))
            if name == "CamExplorer":  # its tasks read the trained model's maps
                assert _instances[name].wait(300)
        else:
            _instances[name] = ALL[name]()
    return _instances[name]


@pytest.fixture(scope="module", autouse=True)
def _finish_training():
    yield
    for explorer in _instances.values():
        if hasattr(explorer, "wait"):
            explorer.wait(300)


@pytest.mark.parametrize("name", list(ALL))
def test_every_explorer_has_two_to_four_tasks(name):
    tasks = explorer_tasks(name)
    assert 2 <= len(tasks) <= 4, name
    for item in tasks:
        assert item.question.strip() and len(set(item.choices)) == len(item.choices) >= 2
        assert item.settings, "a task names the case it checks"


@pytest.mark.parametrize(("name", "i"), CASES)
def test_a_task_sets_its_case_and_its_answer_is_a_choice(name, i, tmp_path_factory):
    explorer = _explorer(name, tmp_path_factory)
    item = explorer_tasks(name)[i]
    assert {key for key, _ in item.settings} <= set(explorer.controls)
    scene = apply(explorer, item)
    assert not isinstance(scene, Problem), scene
    assert scene is explorer.scene
    for key, value in item.settings:  # the explorer shows the case the task names
        assert explorer.controls[key].value == value, key
    right, why = item.answer(scene, explorer.scene_for)
    assert right in item.choices and why


@pytest.mark.parametrize(("name", "i"), CASES)
def test_the_right_pick_holds_and_a_wrong_one_does_not(name, i, tmp_path_factory):
    explorer = _explorer(name, tmp_path_factory)
    item = explorer_tasks(name)[i]
    right, _ = item.answer(apply(explorer, item), explorer.scene_for)
    wrong = next(c for c in item.choices if c != right)
    panel = TaskPanel(explorer, [item])
    panel.picks[0].value = wrong
    panel.buttons[0].click()
    assert panel.outcomes[0].held is False and panel.outcomes[0].answer == right
    assert "did not hold" in panel.results[0].value and right in panel.results[0].value
    panel.picks[0].value = right
    panel.buttons[0].click()
    assert panel.outcomes[0].held is True
    assert "held" in panel.results[0].value and "did not hold" not in panel.results[0].value


def test_check_sets_the_case_on_the_explorer_it_is_given():
    explorer = ALL["PoolingExplorer"]()
    item = explorer_tasks("PoolingExplorer")[0]
    explorer.controls["kernel_size"].value = 5
    outcome = check(explorer, item, "14 x 14")
    assert explorer.controls["kernel_size"].value == 2 and explorer.scene.out_size == 14
    assert outcome.held is True


def test_the_answers_are_the_engines():
    kernel = ALL["KernelExplorer"]()
    for item in explorer_tasks("KernelExplorer")[:3]:
        v = dict(item.settings)
        n = conv_output_size(28, 3, v["stride"], v["padding"], v["dilation"])
        assert check(kernel, item, f"{n} x {n}").held is True
    arithmetic = ALL["ConvArithmeticExplorer"]()
    first, *_, transposed = explorer_tasks("ConvArithmeticExplorer")
    assert check(arithmetic, first, str(conv_output_size(7, 3, 2, 1))).held is True
    assert check(arithmetic, transposed,
                 str(conv_transpose_output_size(3, 3, 2, 0))).held is True
    pooling = ALL["PoolingExplorer"]()
    n = pool_output_size(28, 2, 2, 0)
    assert check(pooling, explorer_tasks("PoolingExplorer")[0], f"{n} x {n}").held is True
    training = ALL["TrainingExplorer"]()
    with_bn = sum(p.numel() for p in simple_cnn(LESSON_DEFAULTS["channels"]).parameters())
    without = sum(p.numel() for p in simple_cnn(LESSON_DEFAULTS["channels"],
                                                batchnorm=False).parameters())
    expected = "with batch norm" if with_bn > without else "without batch norm"
    assert check(training, explorer_tasks("TrainingExplorer")[0], expected).held is True


def test_no_pick_and_an_impossible_case_give_messages_not_errors():
    explorer = ALL["PoolingExplorer"]()
    panel = TaskPanel.for_explorer(explorer)
    assert len(panel.tasks) == len(explorer_tasks("PoolingExplorer"))
    panel.buttons[0].click()  # nothing picked
    assert panel.outcomes[0].held is None and "Pick a prediction" in panel.results[0].value
    too_big = task("?", ("a", "b"), {"kernel_size": 6, "padding": 0, "source": "digit",
                                     "stride": 1}, lambda s, _: ("a", ""))
    impossible = task("?", ("a", "b"), {"padding": 3, "kernel_size": 1}, lambda s, _: ("a", ""))
    refused = task("?", ("a", "b"), {"mode": "median"}, lambda s, _: ("a", ""))
    broken = Task("?", ("a", "b"), (("padding", 0),), lambda s, _: 1 / 0)
    assert check(explorer, too_big, "a").held is True
    outcome = check(explorer, impossible, "a")
    assert outcome.held is None and "cannot show" in outcome.text
    assert explorer.message  # the explorer itself shows why
    assert check(explorer, refused, "a").held is None
    assert "could not be checked" in check(explorer, broken, "a").text
