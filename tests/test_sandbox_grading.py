"""End to end: hostile ps1 submissions graded by the real nbgrader, each in its sandbox.

One class is graded in one ``nbgrader autograde`` run: an honest student sorted before the
hostile ones and one sorted after, and eight notebooks that solve ps1 correctly but first try
one attack each (write the gradebook, read ``source/`` and another submission, write course
files, exceed the memory limit, start many processes, fill the disk, sleep forever, open a
network socket). Every attack is wrapped so that the notebook goes on: each prints what it met,
and the test reads that from the autograded notebook and the scores from the gradebook.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook  # noqa: E402

from cnncourse.app.sandbox import problem  # noqa: E402
from tests.test_exercises_nbgrader import EXERCISES, cell, insert_after_setup, run  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(problem() is not None, reason=str(problem()))]

PS1 = "ps1_convolutions"
HONEST = ("a_honest", "z_honest")  # graded first and last

ATTACKS = {
    "hostile_gradebook": """
import os, sqlite3
found = [p for p in ["../../../gradebook.db", "{root}/gradebook.db"] if os.path.exists(p)]
found += [os.path.join(d, "gradebook.db") for d, _, files in os.walk("/tmp")
          if "gradebook.db" in files]
for path in found:
    db = sqlite3.connect(path)
    db.execute("UPDATE grade SET auto_score = 0, manual_score = 0")
    db.commit()
print("ATTACK gradebooks found:", len(found))
""",
    "hostile_reads": """
import os
secrets = []
for path in ["{root}/source/{ps}/{ps}.ipynb", "../../../source/{ps}/{ps}.ipynb",
             "{root}/submitted/a_honest/{ps}/{ps}.ipynb", "{root}/nbgrader_config.py"]:
    try:
        secrets.append(open(path).read())
    except OSError as err:
        print("ATTACK blocked:", type(err).__name__)
print("ATTACK files read:", len(secrets))
""",
    "hostile_writes": """
written = 0
for path in ["{root}/nbgrader_config.py", "{root}/source/{ps}/{ps}.ipynb",
             "{root}/release/{ps}/{ps}.ipynb", "{root}/planted.py"]:
    try:
        with open(path, "a") as f:
            f.write("# planted")
        written += 1
    except OSError as err:
        print("ATTACK blocked:", type(err).__name__)
print("ATTACK files written:", written)
""",
    "hostile_memory": """
try:
    hog = bytearray(8 * 2**30)
    hog[::4096] = b"x" * len(hog[::4096])
    print("ATTACK allocated 8 GiB")
except MemoryError:
    print("ATTACK blocked: MemoryError")
hog = None
""",
    "hostile_forks": """
import os, time
children = []
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    print("ATTACK started", len(children), "processes")
except OSError as err:
    print("ATTACK blocked:", type(err).__name__, "after", len(children), "processes")
for pid in children:
    os.waitpid(pid, 0)
""",
    "hostile_disk": """
import os
written = 0
try:
    with open("filler.bin", "wb") as f:
        for _ in range(4096):
            f.write(b"x" * 2**20)
            f.flush()
            written += 1
    print("ATTACK wrote", written, "MiB")
except OSError as err:
    print("ATTACK blocked:", type(err).__name__, "after", written, "MiB")
os.remove("filler.bin")
""",
    "hostile_sleeps": """
import time
print("ATTACK sleeping")
time.sleep(10**6)
""",
    "hostile_network": """
import socket
for address in [("1.1.1.1", 53), ("127.0.0.1", 22)]:
    try:
        socket.create_connection(address, timeout=3).close()
        print("ATTACK connected to", address)
    except OSError as err:
        print("ATTACK blocked:", type(err).__name__)
""",
}


def course_files(root: Path) -> dict[str, str]:
    """Path -> hash of every instructor file (config, source/, release/)."""
    paths = [root / "nbgrader_config.py", *root.glob("source/**/*"), *root.glob("release/**/*")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sandbox") / "course"
    root.mkdir()
    shutil.copy(EXERCISES / "nbgrader_config.py", root)
    shutil.copytree(EXERCISES / "source" / PS1, root / "source" / PS1)
    run([sys.executable, "-m", "nbgrader", "generate_assignment", PS1, "--force"], root)
    solutions = nbformat.read(root / "source" / PS1 / f"{PS1}.ipynb", as_version=4)
    for student in (*HONEST, *ATTACKS):
        nb = nbformat.from_dict(solutions)
        if student in ATTACKS:
            insert_after_setup(nb, ATTACKS[student].format(root=root, ps=PS1).strip())
        folder = root / "submitted" / student / PS1
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{PS1}.ipynb")
    before = course_files(root)
    log = run([sys.executable, "-m", "nbgrader", "autograde", PS1, "--force"], root,
              check=False)
    return {"root": root, "log": log, "before": before, "after": course_files(root)}


def total(root: Path, student: str) -> float:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return gb.find_submission(PS1, student).score


def attack_output(root: Path, student: str) -> str:
    nb = nbformat.read(root / "autograded" / student / PS1 / f"{PS1}.ipynb", as_version=4)
    attack = nb.cells[nb.cells.index(cell(nb, "setup")) + 1]
    return "".join(o.get("text", "") + o.get("ename", "") for o in attack.outputs)


def test_the_run_finishes_and_grades_everyone(graded):
    assert graded["log"].returncode == 0, graded["log"].stderr[-3000:]
    for student in (*HONEST, *ATTACKS):
        assert (graded["root"] / "autograded" / student / PS1).is_dir()


@pytest.mark.parametrize("student", [*HONEST, *ATTACKS])
def test_every_notebook_gets_full_marks_for_its_correct_solutions(graded, student):
    """The honest scores are untouched by the attacks, and each hostile notebook, whose
    functions are right, is scored for them."""
    assert total(graded["root"], student) == 16


def test_the_course_files_are_unchanged(graded):
    assert graded["after"] == graded["before"]
    assert not (graded["root"] / "planted.py").exists()


EXPECTED = {
    "hostile_gradebook": "gradebooks found: 0",
    "hostile_reads": "files read: 0",
    "hostile_writes": "files written: 0",
    "hostile_memory": "blocked: MemoryError",
    "hostile_forks": "blocked: BlockingIOError",
    "hostile_disk": "blocked: OSError",
    "hostile_sleeps": "CellTimeoutError",
    "hostile_network": "blocked: OSError",
}


@pytest.mark.parametrize("student", ATTACKS)
def test_each_attack_is_contained(graded, student):
    assert EXPECTED[student] in attack_output(graded["root"], student)
