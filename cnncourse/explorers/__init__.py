"""Interactive explorers: one ipywidgets explorer per concept, all on one protocol.

In a notebook, an explorer shows itself::

    from cnncourse.explorers import KernelExplorer
    KernelExplorer()

Every explorer exposes ``controls`` (name -> ipywidgets value widget), ``view`` (the widget
shown), ``update()`` (redraw from the controls; observers call it on every change) and
``message`` (``""``, or why the current setting cannot be drawn). Setting
``explorer.controls["stride"].value = 2`` redraws before the assignment returns. Every
explorer is settings -> scene -> view: ``settings()``, ``compute(settings)`` and ``scene``,
the frozen result for the current controls, or a ``Problem`` carrying the message. See
:mod:`cnncourse.explorers.base`.

``ALL`` maps each explorer's name to its class; every class opens with no arguments:
KernelExplorer, ConvArithmeticExplorer, ChannelsExplorer, ReceptiveFieldExplorer,
ConvAsMatmulExplorer, PoolingExplorer, GradientExplorer, LossExplorer, OptimizerExplorer,
OneCycleExplorer, TrainingExplorer, DrawDigitExplorer, ModelExplorer, NetworkExplorer and
CamExplorer.

``TaskPanel.for_explorer(explorer)`` shows an explorer's try-this tasks (``explorer_tasks``):
pick a prediction, press Check, and the explorer is set to the case and says whether it held;
``with_tasks(explorer)`` shows both, as every dashboard does.
"""

from ._task_list import explorer_tasks
from .base import ControlRange, Explorer, Problem, control_range
from .cam import CamExplorer
from .channels import ChannelsExplorer
from .conv_arithmetic import ConvArithmeticExplorer
from .conv_matmul import ConvAsMatmulExplorer
from .draw_digit import DrawDigitExplorer
from .gradient import GradientExplorer
from .kernel import KernelExplorer
from .loss import LossExplorer
from .model import ModelExplorer
from .network import NetworkExplorer
from .one_cycle import OneCycleExplorer
from .optimizer import OptimizerExplorer
from .pooling import PoolingExplorer
from .receptive_field import ReceptiveFieldExplorer
from .tasks import Task, TaskPanel, with_tasks
from .training import TrainingExplorer

ALL: dict[str, type[Explorer]] = {
    "KernelExplorer": KernelExplorer,
    "ConvArithmeticExplorer": ConvArithmeticExplorer,
    "ChannelsExplorer": ChannelsExplorer,
    "ReceptiveFieldExplorer": ReceptiveFieldExplorer,
    "ConvAsMatmulExplorer": ConvAsMatmulExplorer,
    "PoolingExplorer": PoolingExplorer,
    "GradientExplorer": GradientExplorer,
    "LossExplorer": LossExplorer,
    "OptimizerExplorer": OptimizerExplorer,
    "OneCycleExplorer": OneCycleExplorer,
    "TrainingExplorer": TrainingExplorer,
    "DrawDigitExplorer": DrawDigitExplorer,
    "ModelExplorer": ModelExplorer,
    "NetworkExplorer": NetworkExplorer,
    "CamExplorer": CamExplorer,
}

__all__ = ["ALL", "ControlRange", "Explorer", "Problem", "Task", "TaskPanel", "control_range",
           "explorer_tasks", "with_tasks", *ALL]
