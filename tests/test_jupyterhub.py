"""A class on the course's JupyterHub (deploy/jupyterhub/jupyterhub_config.py), end to end.

A real JupyterHub on 127.0.0.1 behind its real proxy (configurable-http-proxy, installed by
`make hub`), an instructor and two students who log in with their passwords and start their own
servers (real processes, spawned by the hub). Everything goes through the proxy, as a browser's
requests do: the instructor runs nbgrader in a kernel of their server (as in its terminal), and
the students use nbgrader's Assignments API (what the Assignments tab of JupyterLab calls). The
instructor releases ps1, each student fetches it and submits (one the solutions, one blank), the
instructor collects, autogrades, writes and releases feedback, and a student fetches it; the
gradebook must hold the maximum for one and 0 for the other.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import nbformat
import pytest

from .hub import ROOT, Hub

pytestmark = pytest.mark.slow

ASSIGNMENT = "ps1_convolutions"
SOURCE = ROOT / "exercises" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
STUDENT_PASSWORD = "students-password"
INSTRUCTOR_PASSWORD = "instructor-password-with-32-characters-or-more"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("hub"), {
        "CNNCOURSE_HUB_INSTRUCTORS": "teacher",
        "CNNCOURSE_HUB_STUDENTS": "alice,bob",
        "CNNCOURSE_HUB_PASSWORD": STUDENT_PASSWORD,
        "CNNCOURSE_HUB_INSTRUCTOR_PASSWORD": INSTRUCTOR_PASSWORD,
        "CNNCOURSE_CELL_TIMEOUT": "60",
        "OMP_NUM_THREADS": "1"})
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def people(hub):
    """The instructor and the two students, logged in, each with a running server."""
    teacher = hub.user("teacher", INSTRUCTOR_PASSWORD)
    alice = hub.user("alice", STUDENT_PASSWORD)
    bob = hub.user("bob", STUDENT_PASSWORD)
    for person in (teacher, alice, bob):
        person.start_server()
    for person in (teacher, alice, bob):
        person.wait_for_server()
    return teacher, alice, bob


def run_as(user, *commands: list[str]) -> str:
    """Run commands one after the other in the user's course folder, from one kernel of their
    server (as the user would in its terminal); stop at the first that fails."""
    code = (
        "import json, os, subprocess\n"
        "out = []\n"
        f"for command in {[list(c) for c in commands]!r}:\n"
        "    r = subprocess.run(command, cwd=os.path.expanduser('~/cnncourse-exercises'),"
        " capture_output=True, text=True)\n"
        "    out.append(' '.join(command) + '\\n' + r.stdout + r.stderr)\n"
        "    if r.returncode:\n"
        "        break\n"
        "print(json.dumps({'rc': r.returncode, 'out': '\\n'.join(out)[-6000:]}))\n")
    result = json.loads(user.run_python(code).strip().splitlines()[-1])
    assert result["rc"] == 0, f"a command failed:\n{result['out']}"
    return result["out"]


def assignment_action(student, action: str) -> dict:
    response = student.server("POST", f"assignments/{action}",
                              form={"course_id": "cnncourse", "assignment_id": ASSIGNMENT})
    assert response.status == 200, (action, response.status, response.body[:500])
    return response.json()


def notebook_of(student) -> dict:
    response = student.server("GET", f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    assert response.status == 200, f"{student.name} has no fetched {ASSIGNMENT}"
    return response.json()["content"]


def fill_in_solutions(notebook: dict) -> dict:
    """The fetched notebook with every answer cell replaced by the instructor's solution."""
    source = nbformat.read(SOURCE, as_version=4)
    solutions = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
                 if cell.metadata.get("nbgrader", {}).get("solution")}
    filled = 0
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell["source"] = solutions[grade_id]
            filled += 1
    assert filled == len(solutions) > 0
    return notebook


def test_wrong_password_is_refused(hub):
    response, _ = hub.login("alice", "not-the-password")
    assert response.status == 403
    response, _ = hub.login("teacher", STUDENT_PASSWORD)  # instructors need their own password
    assert response.status == 403


def test_each_user_has_the_course_and_only_the_instructor_grades(people):
    teacher, alice, bob = people
    lessons = alice.server("GET", "api/contents/cnncourse-lessons").json()["content"]
    names = {item["name"] for item in lessons}
    assert any(n.startswith("01_") and n.endswith(".ipynb") for n in names), names
    assert "dashboards" in names
    voila = alice.server("GET", "voila/render/cnncourse-lessons/dashboards/index.ipynb")
    assert voila.status == 200 and b"cnncourse dashboards" in voila.body, voila.body[:300]
    assert teacher.server("GET", "formgrader/api/assignments").status == 200
    assert alice.server("GET", "formgrader/api/assignments").status == 404
    assert teacher.server("GET", "api/contents/cnncourse-exercises/source").status == 200
    assert alice.server("GET", "api/contents/cnncourse-exercises").status == 404
    # The instructor sees the class on the hub (the admin page's API); a student does not.
    listed = teacher.request("GET", "/hub/api/users")
    assert listed.status == 200
    assert {"alice", "bob", "teacher"} <= {u["name"] for u in listed.json()}
    assert alice.request("GET", "/hub/api/users").status == 403
    groups = teacher.request("GET", "/hub/api/groups/instructors").json()
    assert groups["users"] == ["teacher"]
    # A student's token opens their own server only.
    bobs_server = bob.hub.send("GET", "user/alice/api/contents", None,
                               {"Authorization": f"token {bob.token}"}, bob.cookies, 30)
    assert bobs_server.status in (403, 404), bobs_server.status


def test_a_problem_set_travels_through_the_exchange_and_is_graded(hub, people):
    teacher, alice, bob = people
    run_as(teacher, ["cnncourse", "exercises", "release", ASSIGNMENT],
           ["nbgrader", "release_assignment", ASSIGNMENT, "--force"])

    for student in (alice, bob):
        listed = assignment_action(student, "fetch")
        assert any(a["assignment_id"] == ASSIGNMENT for a in listed["value"]), listed
    solved = fill_in_solutions(notebook_of(alice))
    saved = alice.server("PUT", f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
                         data={"type": "notebook", "format": "json", "content": solved})
    assert saved.status == 200, saved.body[:300]
    for student in (alice, bob):  # bob hands in the notebook as he fetched it
        submitted = assignment_action(student, "submit")
        assert submitted.get("success", True), submitted

    graded = run_as(teacher, ["nbgrader", "collect", ASSIGNMENT],
                    ["cnncourse", "exercises", "grade", ASSIGNMENT],  # sandboxed autograde
                    ["cnncourse", "exercises", "feedback", ASSIGNMENT],
                    ["nbgrader", "release_feedback", ASSIGNMENT])
    course = hub.homes / "teacher" / "cnncourse-exercises"
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob"]

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s.student_id: (s.score, s.max_score)
                  for s in gradebook.assignment_submissions(ASSIGNMENT)}
    assert scores["alice"][0] == scores["alice"][1] > 0, (scores, graded)
    assert scores["bob"][0] == 0, (scores, graded)
    # The instructor's formgrader shows the same scores.
    shown = teacher.server("GET", f"formgrader/api/submissions/{ASSIGNMENT}").json()
    assert {s["student"]: s["score"] for s in shown} == {"alice": scores["alice"][0],
                                                       "bob": 0}

    assignment_action(alice, "fetch_feedback")
    folder = alice.server("GET", f"api/contents/{ASSIGNMENT}/feedback").json()["content"]
    assert len(folder) == 1, folder  # one folder per submission, named by its time
    path = urllib.parse.quote(folder[0]["path"])  # the folder's name has spaces
    feedback = alice.server("GET", f"api/contents/{path}").json()["content"]
    assert [f["name"] for f in feedback] == [f"{ASSIGNMENT}.html"]


def test_idle_servers_are_culled(tmp_path):
    """A second hub whose culler stops servers idle for 10 s: a student who logs in and leaves
    loses the server (the lessons stay in the home)."""
    hub = Hub(tmp_path / "culled", {
        "CNNCOURSE_HUB_PASSWORD": STUDENT_PASSWORD, "CNNCOURSE_HUB_CULL_IDLE": "10",
        "CNNCOURSE_HUB_CULL_EVERY": "2"})
    try:
        carol = hub.user("carol", STUDENT_PASSWORD)
        carol.start_server()
        carol.wait_for_server()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not carol.request("GET", "/hub/api/users/carol").json()["servers"]:
                break
            time.sleep(1)
        else:
            raise AssertionError(f"carol's idle server was not culled:\n{hub.log()}")
        assert "Culling server" in hub.log() or "culling server" in hub.log().lower()
        assert (hub.homes / "carol" / "cnncourse-lessons").is_dir()
    finally:
        hub.stop()
