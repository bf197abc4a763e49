"""Exercise checks: compare a student's function with the course's reference implementation.

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
  outside your notebook (``cnncourse.instructor.VerifyAnswers``).

The modules, one idea each: ``guards`` (forbid, time_limit), ``compare`` (cases and the
plain-words comparison), ``exercise`` (what an exercise is), ``ps1``, ``ps2``, ``ps3`` (the
function exercises: cases, references, hints), ``registry`` (the exercises by name), ``ps4``
(the training exercise: data split, budget, accuracy), ``tamper`` (the seal), ``records`` (the
answers the autograder re-checks), ``runner`` (running the cases) and ``checks`` (what the
notebooks call). Importing this package imports them all, so the references are bound before
any student code runs.
"""

from .checks import (
    check_apply_kernel,
    check_batch_norm_train,
    check_build_model,
    check_conv2d,
    check_conv_output_size,
    check_one_cycle_lr,
    check_pool2d,
    check_receptive_field,
    check_train_model,
    hidden_check,
)
from .compare import Case, CheckFailed, Problem, compare_floats, compare_ints, compare_tensors
from .exercise import VISIBLE_SEED, Exercise
from .guards import NotAllowedError, TimeLimitExceeded, forbid, short_name, time_limit
from .ps1 import CONV_FORBIDDEN
from .ps1 import _conv2d as _conv2d
from .ps2 import POOL_FORBIDDEN
from .ps3 import BN_FORBIDDEN, ONE_CYCLE_FORBIDDEN
from .ps4 import (
    FALLBACK_TARGET,
    MNIST_TARGET,
    MODEL_CHECKS,
    N_TRAIN,
    N_VALID,
    PARAMETER_BUDGET,
    accuracy_target,
    count_parameters,
    exercise_data,
)
from .ps4 import _full_data as _full_data
from .ps4 import _split_images as _split_images
from .records import MIME, verify
from .records import _decode as _decode
from .records import _encode as _encode
from .registry import EXERCISES
from .runner import _call as _call
from .runner import run_cases
from .tamper import WATCHED, TamperingDetected, seal, tampering

# The names imported "as" themselves are internals that the tests reach through the package.
__all__ = [
    "BN_FORBIDDEN", "CONV_FORBIDDEN", "EXERCISES", "FALLBACK_TARGET", "MIME", "MNIST_TARGET",
    "MODEL_CHECKS", "N_TRAIN", "N_VALID", "ONE_CYCLE_FORBIDDEN", "PARAMETER_BUDGET",
    "POOL_FORBIDDEN", "VISIBLE_SEED", "WATCHED", "Case", "CheckFailed", "Exercise",
    "NotAllowedError", "Problem", "TamperingDetected", "TimeLimitExceeded", "accuracy_target",
    "check_apply_kernel", "check_batch_norm_train", "check_build_model", "check_conv2d",
    "check_conv_output_size", "check_one_cycle_lr", "check_pool2d", "check_receptive_field",
    "check_train_model", "compare_floats", "compare_ints", "compare_tensors", "count_parameters",
    "exercise_data", "forbid", "hidden_check", "run_cases", "seal", "short_name", "tampering",
    "time_limit", "verify",
]
