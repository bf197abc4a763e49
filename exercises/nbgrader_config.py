"""nbgrader configuration of the cnncourse exercises: run nbgrader (or `cnncourse exercises`)
with this folder as the current directory."""

import os

from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.preprocessors import Execute

from cnncourse.app.preprocessors import HideHiddenTests, VerifyAnswers

c = get_config()  # noqa: F821  (provided by nbgrader when it reads this file)

c.CourseDirectory.course_id = "cnncourse"

# One torch thread per notebook kernel: grading runs notebook after notebook, and on a small
# busy machine torch's threads fight each other (ps4's training: 6 s instead of a minute).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Every cell may run this many seconds before nbgrader interrupts it: a submission with an
# endless loop then scores 0 for that part and the rest is still graded. ps4 trains a network
# in one cell, so leave room for slow machines; CNNCOURSE_CELL_TIMEOUT overrides it.
c.Execute.timeout = int(os.environ.get("CNNCOURSE_CELL_TIMEOUT", "180"))

# A test cell the student deleted is put back (and run) instead of silently scoring nothing.
c.OverwriteCells.add_missing_cells = True

# Right after the notebook ran, re-check every recorded answer outside the student's kernel.
steps = Autograde.class_traits()["autograde_preprocessors"].default()
steps.insert(steps.index(Execute) + 1, VerifyAnswers)
c.Autograde.autograde_preprocessors = steps

# Feedback shows visible tests and scores, but not the source or output of hidden tests.
c.GenerateFeedback.preprocessors = [
    *GenerateFeedback.class_traits()["preprocessors"].default(), HideHiddenTests]
