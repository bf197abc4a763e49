"""The content of the graded notebooks: one module per problem set.

Each module defines ``PROBLEM_SET``: its assignment (the notebook's folder in
``exercises/source``), its exercises (cases, references, hints, forbidden functions) and the
references its checks rely on. ``cnncourse.grading.core.registry`` finds every module here
whose name does not start with ``_``: adding a problem set is adding a module.
"""
