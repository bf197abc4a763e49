"""The grading machinery, the same for every problem set.

One idea per module: ``guards`` (forbid, time_limit), ``compare`` (cases and the plain-words
comparison), ``records`` (the answers shown for the autograder), ``runner`` (running a
function on its cases), ``exercise`` (what an exercise and a problem set are),
``registry`` (every problem set, found in ``cnncourse.grading.problem_sets``), ``tamper``
(the seal) and ``checks`` (``check_<name>``, ``hidden_check``, ``verify``). Nothing here names
a problem set.
"""
