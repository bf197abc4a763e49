"""Exercise checks: compare a student's work with the course's reference implementation.

While you work, call ``check_<function>()`` (for example ``check_conv2d()``): it runs a few
visible cases and explains the first failure in plain words, with the inputs and the largest
difference. The graded notebooks call the same checks in their test cells, and
``hidden_check(name, function, seed=...)`` for other, seeded cases that you do not see.

Three guards keep a grade honest:

* ``forbid(...)``: the torch functions an exercise asks you to write yourself raise
  "not allowed in this exercise" while your function runs;
* ``time_limit(...)``: a call that does not return in time fails with a clear message;
* ``seal()``: the first cell of every exercise notebook remembers the comparison and reference
  functions before any of your code runs, and every check finds out if they were replaced.
  Under nbgrader each check also records its answers, and the autograder checks them again
  outside your notebook (``cnncourse.app.preprocessors.VerifyAnswers``).

Two packages: ``core``, the machinery that is the same for every problem set (guards,
comparisons, records, exercises, the registry, the seal, the checks), and ``problem_sets``,
the content of each notebook (``ps1`` ... ``ps6``: cases, references, hints, forbidden
functions; ps4's data split, budget and accuracy; ps5's reference training loop; ps6's
global-average-pooling head). Each
problem set declares its exercises and the references they rely on in ``PROBLEM_SET``; the
registry (``PROBLEM_SETS``, ``EXERCISES``) finds them, and the ``check_<name>`` functions,
the seal's ``WATCHED`` names and what the autograder re-checks all come from it. Importing
this package imports every module, so the references are bound before any student code runs.
"""

from .core.checks import CHECKS, hidden_check, verify
from .core.compare import Case, CheckFailed, Problem, compare_floats, compare_ints, compare_tensors
from .core.exercise import VISIBLE_SEED, Exercise, FunctionExercise, Passed, ProblemSet
from .core.guards import NotAllowedError, TimeLimitExceeded, forbid, short_name, time_limit
from .core.records import MIME
from .core.registry import EXERCISES, PROBLEM_SETS, Registry
from .core.runner import run_cases
from .core.tamper import COMPARISONS, WATCHED, TamperingDetected, seal, tampering
from .problem_sets.ps1 import CONV_FORBIDDEN
from .problem_sets.ps2 import POOL_FORBIDDEN
from .problem_sets.ps3 import BN_FORBIDDEN, ONE_CYCLE_FORBIDDEN
from .problem_sets.ps4 import (
    FALLBACK_TARGET,
    MNIST_TARGET,
    N_TRAIN,
    N_VALID,
    PARAMETER_BUDGET,
    accuracy_target,
    count_parameters,
    exercise_data,
)
from .problem_sets.ps5 import BACKWARD_FORBIDDEN

globals().update(CHECKS)  # check_conv2d, check_train_model, ...: one per exercise

__all__ = [
    "BACKWARD_FORBIDDEN", "BN_FORBIDDEN", "COMPARISONS", "CONV_FORBIDDEN", "EXERCISES",
    "FALLBACK_TARGET", "MIME",
    "MNIST_TARGET", "N_TRAIN", "N_VALID", "ONE_CYCLE_FORBIDDEN", "PARAMETER_BUDGET",
    "POOL_FORBIDDEN", "PROBLEM_SETS", "VISIBLE_SEED", "WATCHED", "Case", "CheckFailed",
    "Exercise", "FunctionExercise", "NotAllowedError", "Passed", "Problem", "ProblemSet",
    "Registry", "TamperingDetected", "TimeLimitExceeded", "accuracy_target", "compare_floats",
    "compare_ints", "compare_tensors", "count_parameters", "exercise_data", "forbid",
    "hidden_check", "run_cases", "seal", "short_name", "tampering", "time_limit", "verify",
    *CHECKS,
]
