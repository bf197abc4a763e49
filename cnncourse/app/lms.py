"""Grades for a learning management system: one row per student, one column per problem set.

nbgrader's own export (``nbgrader export``) has one row per student and assignment; an LMS
gradebook (Canvas, Moodle, Blackboard, Open edX) imports one row per student. This table
has, in order: ``student_id``, ``last_name``, ``first_name``, ``email``, ``lms_user_id`` (the
fields nbgrader keeps for a student; match on one of them when importing), one column per
assignment (its points, after any late penalty, as in nbgrader's ``score``), ``total`` and
``max_total``. A student with no graded submission of an assignment gets an empty cell there
(no grade yet, rather than a zero the LMS would count) and nothing added to ``total``;
``max_total`` is the sum of every assignment's points.
"""

from __future__ import annotations

import csv
from pathlib import Path

PEOPLE = ("student_id", "last_name", "first_name", "email", "lms_user_id")


def _number(value: float) -> str:
    return f"{value:g}"


def lms_table(gradebook: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the rows (one per student, sorted by id) of nbgrader's ``gradebook``."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{gradebook}") as gb:
        assignments = sorted(gb.assignments, key=lambda a: a.name)
        header = [*PEOPLE, *(a.name for a in assignments), "total", "max_total"]
        max_total = _number(sum(a.max_score for a in assignments))
        rows = []
        for student in sorted(gb.students, key=lambda s: s.id):
            row = [student.id, *(getattr(student, field) or "" for field in PEOPLE[1:])]
            total = 0.0
            for assignment in assignments:
                try:
                    submission = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.append("")
                    continue
                score = max(0.0, submission.score - (submission.late_submission_penalty or 0))
                total += score
                row.append(_number(score))
            rows.append([*row, _number(total), max_total])
    return header, rows


def write_lms_csv(gradebook: Path, target: Path) -> int:
    """Write ``lms_table(gradebook)`` to the CSV file ``target``; returns the number of rows."""
    header, rows = lms_table(gradebook)
    with open(target, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


__all__ = ["PEOPLE", "lms_table", "write_lms_csv"]
