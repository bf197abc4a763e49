"""nbgrader configuration of the cnncourse exercises: run nbgrader (or `cnncourse exercises`)
with this folder as the current directory."""

import os
import sys

from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.preprocessors import Execute

from cnncourse.app import sandbox
from cnncourse.app.preprocessors import DrawHiddenSeeds, HideHiddenTests, VerifyAnswers

c = get_config()  # noqa: F821  (provided by nbgrader when it reads this file)

c.CourseDirectory.course_id = "cnncourse"

# One torch thread per notebook kernel: grading runs notebook after notebook, and on a small
# busy machine torch's threads fight each other (ps4's training: 6 s instead of a minute).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Every cell may run this many seconds before nbgrader interrupts it: a submission with an
# endless loop then scores 0 for that part and the rest is still graded. ps4 trains a network
# in one cell, so leave room for slow machines; CNNCOURSE_CELL_TIMEOUT overrides it.
c.Execute.timeout = int(os.environ.get("CNNCOURSE_CELL_TIMEOUT", "180"))

# Once the last cell has run, the kernel is killed rather than asked to shut down: a sandboxed
# kernel that imported torch took 3.2 s to end politely, 0.1 s this way (benchmarks/
# grade_class.py, README), and nothing it does while ending reaches the grade.
c.Execute.shutdown_kernel = "immediate"

# Every notebook runs in a bubblewrap sandbox: only a copy of its own folder and the read-only
# Python environment, no network, limited memory, CPU time, processes and disk (README.md).
# `autograde` refuses where no sandbox can be made, unless CNNCOURSE_NO_SANDBOX=1. The limits:
# c.SandboxKernelManager.memory_limit = 6 * 2**30     # bytes of address space
# c.SandboxKernelManager.cpu_seconds = 1800           # CPU seconds per process
# c.SandboxKernelManager.max_processes = 256          # processes and threads
# c.SandboxKernelManager.disk_limit = 512 * 2**20     # bytes written (its private /tmp)
execute = sandbox.execute_step(sys.argv)

# A test cell the student deleted is put back (and run) instead of silently scoring nothing.
c.OverwriteCells.add_missing_cells = True

# Before the notebook runs, the hidden tests get seeds drawn now (the hidden cases cannot be
# computed in advance); right after, every recorded answer is re-checked outside the kernel.
steps = Autograde.class_traits()["autograde_preprocessors"].default()
steps[steps.index(Execute)] = execute
steps.insert(steps.index(execute), DrawHiddenSeeds)
steps.insert(steps.index(execute) + 1, VerifyAnswers)
c.Autograde.autograde_preprocessors = steps

# Feedback shows visible tests and scores, but not the source or output of hidden tests.
c.GenerateFeedback.preprocessors = [
    *GenerateFeedback.class_traits()["preprocessors"].default(), HideHiddenTests]
