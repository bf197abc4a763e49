"""cnncourse: learn convolutional neural networks by playing with them, in Jupyter.

The engine lives in small modules, one idea each: ``arithmetic`` (sizes and receptive fields),
``kernels``, ``conv``, ``pooling``, ``norm``, ``losses``, ``schedules``; data and training in
``data``, ``models``, ``training``; pictures in ``viz``; widgets in ``explorers``; the
``cnncourse`` command and the instructor tools in ``app``.
"""

__version__ = "0.1.0"
