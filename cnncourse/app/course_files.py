"""Where the lesson and dashboard notebooks live: in a clone, or inside an installed package.

In a git clone the notebooks sit in ``lessons/`` next to the package. A plain ``pip install``
ships them as package data in ``cnncourse/_lessons``; ``cnncourse lab`` copies them from there
into a folder of the student's choice, because site-packages is no place to edit notebooks.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the cnncourse package
PACKAGED = "_lessons"  # the folder inside the installed package
DASHBOARDS = "dashboards"
INDEX = "index"  # the dashboard page that links all the others


@dataclass(frozen=True)
class Course:
    """The lesson notebooks found on this machine.

    ``lessons`` is the folder of lesson notebooks, with the dashboards in its ``dashboards``
    subfolder; ``from_clone`` says whether it is a clone's ``lessons/`` (edit in place) or the
    copy shipped inside the package (copy it out first).
    """

    lessons: Path
    from_clone: bool

    @property
    def dashboards(self) -> Path:
        return self.lessons / DASHBOARDS


def find_course(package_dir: Path = PACKAGE_DIR) -> Course | None:
    """The course next to ``package_dir``: a clone's ``lessons/`` first, else the packaged copy.

    A clone is recognised by the ``pyproject.toml`` beside the package; ``None`` when neither
    holds any notebook.
    """
    clone = package_dir.parent / "lessons"
    if (package_dir.parent / "pyproject.toml").is_file() and any(clone.glob("*.ipynb")):
        return Course(clone, from_clone=True)
    packaged = package_dir / PACKAGED
    if any(packaged.glob("*.ipynb")):
        return Course(packaged, from_clone=False)
    return None


def lesson_notebooks(course: Course) -> list[Path]:
    """The lesson notebooks in teaching order (their names start with the lesson number)."""
    return sorted(p for p in course.lessons.glob("*.ipynb") if p.stem[:2].isdigit())


def dashboard_notebooks(course: Course) -> dict[str, Path]:
    """Dashboard name -> notebook, e.g. ``"kernel" -> .../dashboards/kernel.ipynb``; the index
    page is left out."""
    return {p.stem: p for p in sorted(course.dashboards.glob("*.ipynb")) if p.stem != INDEX}


def dashboard_info(path: Path) -> dict[str, str]:
    """``{"explorer": class name, "title": one line}`` from a dashboard's notebook metadata."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return {"explorer": "", "title": ""}
    info = meta.get("cnncourse", {})
    return {"explorer": str(info.get("explorer", "")), "title": str(info.get("title", ""))}


@dataclass(frozen=True)
class CopyReport:
    copied: list[Path]
    kept: list[Path]


def copy_course(course: Course, target: Path) -> CopyReport:
    """Copy every notebook of ``course`` into ``target`` (created if needed, parents must exist).

    A file already in ``target`` is kept as it is: a student's edited lesson is never
    overwritten. Raises ``ValueError`` when ``target`` cannot hold the lessons.
    """
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file, not a folder")
    if not target.exists() and not target.parent.is_dir():
        raise ValueError(f"folder {target.parent} does not exist")
    if target.resolve() == course.lessons.resolve():
        return CopyReport([], sorted(course.lessons.rglob("*.ipynb")))
    copied, kept = [], []
    for source in sorted(course.lessons.rglob("*.ipynb")):
        relative = source.relative_to(course.lessons)
        if ".ipynb_checkpoints" in relative.parts:
            continue
        destination = target / relative
        if destination.exists():
            kept.append(destination)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        copied.append(destination)
    return CopyReport(copied, kept)


__all__ = ["Course", "CopyReport", "copy_course", "dashboard_info", "dashboard_notebooks",
           "find_course", "lesson_notebooks"]
