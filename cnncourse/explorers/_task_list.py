"""Every explorer's try-this tasks, by the explorer's class name (as in ``explorers.ALL``)."""

from __future__ import annotations

from ._task import Task
from ._tasks_cam import TASKS as CAM_TASKS
from ._tasks_conv import TASKS as CONV_TASKS
from ._tasks_network import TASKS as NETWORK_TASKS
from ._tasks_train import TASKS as TRAIN_TASKS

TASKS: dict[str, tuple[Task, ...]] = {**CONV_TASKS, **TRAIN_TASKS, **NETWORK_TASKS,
                                     **CAM_TASKS}


def explorer_tasks(name: str) -> tuple[Task, ...]:
    """The tasks of the explorer called ``name`` (e.g. ``"PoolingExplorer"``); none for an
    explorer without tasks."""
    return TASKS.get(name, ())


__all__ = ["TASKS", "explorer_tasks"]
