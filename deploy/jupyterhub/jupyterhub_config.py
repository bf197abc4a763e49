"""JupyterHub for a cnncourse class on one machine (`jupyterhub -f THIS_FILE`).

Every user gets their own Jupyter server with the lessons (JupyterLab, in ~/cnncourse-lessons),
the dashboards (Voila, at /user/NAME/voila/render/cnncourse-lessons/dashboards/index.ipynb) and
nbgrader's Assignments tab; the members of the group `instructors` also get a copy of the course
(~/cnncourse-exercises, with source/) and nbgrader's formgrader. Assignments travel through
nbgrader's exchange, one folder every server shares. Idle servers are stopped by
jupyterhub-idle-culler. README.md ("A class on JupyterHub") walks through it.

Everything is set by environment variables (defaults in brackets):

  CNNCOURSE_HUB_IP [all interfaces], CNNCOURSE_HUB_PORT [8000]   where students connect
  CNNCOURSE_HUB_HUB_PORT [8081], CNNCOURSE_HUB_PROXY_API_PORT [8001]   internal, on 127.0.0.1
  CNNCOURSE_HUB_STATE [/srv/cnncourse-hub]      the hub's database, secrets, per-role config
  CNNCOURSE_HUB_EXCHANGE [/srv/nbgrader/exchange]  nbgrader's exchange (made writable by all)
  CNNCOURSE_HUB_COURSE [exercises/ of this clone]  the nbgrader course copied to instructors
  CNNCOURSE_HUB_INSTRUCTORS                     comma-separated user names (admins, group
                                                `instructors`)
  CNNCOURSE_HUB_STUDENTS                        comma-separated user names allowed in (unset:
                                                anyone who can log in)
  CNNCOURSE_HUB_ACCOUNTS [system]               `system`: each user is an account of this
                                                machine (PAM passwords; the servers run as that
                                                account, so students cannot read each other's
                                                work); `shared`: no accounts, every server runs as
                                                the hub's own user, homes in CNNCOURSE_HUB_HOMES
                                                - no isolation between users, for a trusted
                                                workshop or a test
  CNNCOURSE_HUB_HOMES [STATE/home]              `shared`: the users' home folders
  CNNCOURSE_HUB_PASSWORD                        `shared`: the students' password (8+ characters)
  CNNCOURSE_HUB_INSTRUCTOR_PASSWORD             `shared`: the instructors' (32+ characters)
  CNNCOURSE_HUB_CULL_IDLE [3600], CNNCOURSE_HUB_CULL_EVERY [300]   stop servers idle this long
  CNNCOURSE_HUB_PROXY [node_modules/.bin/configurable-http-proxy next to this file, else PATH]

CNNCOURSE_DATA (the MNIST folder) is passed on to every server.
"""

import json
import os
import pwd
import shutil
import sys
from pathlib import Path

from cnncourse.app import course_files

c = get_config()  # noqa: F821  (provided by JupyterHub when it reads this file)

HERE = Path(__file__).resolve().parent
ENV_BIN = Path(sys.executable).parent
COURSE_ID = "cnncourse"
LESSONS_DIR = "cnncourse-lessons"  # in each home
EXERCISES_DIR = "cnncourse-exercises"  # in each instructor's home
INSTRUCTORS_GROUP = "instructors"


def setting(name: str, default: str = "") -> str:
    return os.environ.get(f"CNNCOURSE_HUB_{name}", default).strip()


def names(name: str) -> set[str]:
    return {n.strip() for n in setting(name).split(",") if n.strip()}


STATE = Path(setting("STATE", "/srv/cnncourse-hub")).resolve()
EXCHANGE = Path(setting("EXCHANGE", "/srv/nbgrader/exchange")).resolve()
COURSE = Path(setting("COURSE", str(HERE.parents[1] / "exercises"))).resolve()
ACCOUNTS = setting("ACCOUNTS", "system")
INSTRUCTORS = names("INSTRUCTORS")
STUDENTS = names("STUDENTS")
if ACCOUNTS not in ("system", "shared"):
    sys.exit(f"CNNCOURSE_HUB_ACCOUNTS must be 'system' or 'shared', got {ACCOUNTS!r}")
if not (COURSE / "nbgrader_config.py").is_file():
    sys.exit(f"CNNCOURSE_HUB_COURSE: {COURSE} is not an nbgrader course (no nbgrader_config.py)")

STATE.mkdir(parents=True, exist_ok=True)
PRIVATE = STATE / "hub"  # the database and the cookie secret: the hub's alone
PRIVATE.mkdir(mode=0o700, exist_ok=True)
EXCHANGE.mkdir(parents=True, exist_ok=True)
EXCHANGE.chmod(0o777)  # nbgrader: every user writes into the exchange

# ---------------------------------------------------------------------------- the hub and proxy

c.JupyterHub.ip = setting("IP")
c.JupyterHub.port = int(setting("PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(setting("HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(setting('PROXY_API_PORT', '8001'))}"
local_proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [setting("PROXY") or (
    str(local_proxy) if local_proxy.exists() else "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(PRIVATE / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{PRIVATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(PRIVATE / "jupyterhub_cookie_secret")

# ---------------------------------------------------------------------------- who gets in

c.Authenticator.admin_users = INSTRUCTORS
if STUDENTS:
    c.Authenticator.allowed_users = STUDENTS | INSTRUCTORS
else:
    c.Authenticator.allow_all = True
c.JupyterHub.load_groups = {INSTRUCTORS_GROUP: {"users": sorted(INSTRUCTORS)}}
# Instructors are admins (JupyterHub's admin page: start, stop and watch every server); the role
# says so in words for deployments that would rather not make them admins.
c.JupyterHub.load_roles = [{
    "name": "instructor",
    "description": "Sees the class on the admin page and starts or stops students' servers",
    "scopes": ["admin-ui", "list:users", "read:users", "admin:servers", "read:groups"],
    "groups": [INSTRUCTORS_GROUP],
}]

if ACCOUNTS == "shared":
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = setting("PASSWORD") or None
    c.SharedPasswordAuthenticator.admin_password = setting("INSTRUCTOR_PASSWORD") or None
    c.JupyterHub.spawner_class = "simple"
    HOMES = Path(setting("HOMES", str(STATE / "home"))).resolve()
    c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
    if os.geteuid() == 0:  # a container as root: Jupyter refuses root without this
        c.Spawner.args = ["--ServerApp.allow_root=True"]
else:
    c.JupyterHub.authenticator_class = "pam"
    c.JupyterHub.spawner_class = "localprocess"

# ---------------------------------------------------------------------------- each user's server

c.Spawner.cmd = [str(ENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = f"/lab/tree/{LESSONS_DIR}"
c.Spawner.notebook_dir = "~"
# A server imports nothing heavy, but a class logging in at once shares the CPUs.
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 180
c.Spawner.env_keep = ["JUPYTERHUB_SINGLEUSER_APP", "LANG", "LC_ALL", "CNNCOURSE_DATA",
                      "CNNCOURSE_CELL_TIMEOUT", "OMP_NUM_THREADS"]


def write_role_config(role: str) -> Path:
    """A Jupyter config folder for ``role`` (``instructor`` or ``student``): nbgrader's course
    and exchange, and for students no formgrader (server and JupyterLab extension)."""
    folder = STATE / "jupyter-config" / role
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    lines = ["c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {COURSE_ID!r}",
             f"c.Exchange.root = {str(EXCHANGE)!r}"]
    if role == "instructor":
        lines += ["import os",
                  f"c.CourseDirectory.root = os.path.expanduser('~/{EXERCISES_DIR}')"]
    elif ACCOUNTS == "shared":
        # Every server runs as one account, so nbgrader cannot tell students apart by their
        # account; they are told apart by their hub name (as in Zero to JupyterHub's pods).
        lines += ["import os", "c.CourseDirectory.student_id = os.environ['JUPYTERHUB_USER']"]
    (folder / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    hidden = {} if role == "instructor" else {
        "ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": False}}}
    (folder / "jupyter_server_config.json").write_text(json.dumps(hidden, indent=1))
    lab_hidden = {} if role == "instructor" else {"disabledExtensions": {
        "@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:create-assignment": True}}
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(lab_hidden, indent=1))
    return folder


ROLE_CONFIG = {role: write_role_config(role) for role in ("instructor", "student")}


def home_of(spawner) -> tuple[Path, int | None, int | None]:
    """The user's home folder and, for system accounts, the uid and gid to give files to."""
    if ACCOUNTS == "shared":
        return Path(spawner.home_dir), None, None
    account = pwd.getpwnam(spawner.user.name)
    return Path(account.pw_dir), account.pw_uid, account.pw_gid


def give(path: Path, uid: int | None, gid: int | None) -> None:
    if uid is None:
        return
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, gid)


def copy_exercises(target: Path) -> None:
    """The instructor's course folder: the config, source/ and release/ (never overwritten)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("nbgrader_config.py", "source", "release", "README.md"):
        source, destination = COURSE / name, target / name
        if destination.exists() or not source.exists():
            continue
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copyfile(source, destination)


def prepare_home(spawner) -> None:
    """Before a server starts: the lessons (and for instructors the course) in the user's
    home, and the user's role in the server's environment."""
    instructor = any(g.name == INSTRUCTORS_GROUP for g in spawner.user.groups)
    home, uid, gid = home_of(spawner)
    home.mkdir(parents=True, exist_ok=True)
    course = course_files.find_course()
    if course is not None:
        course_files.copy_course(course, home / LESSONS_DIR)
        give(home / LESSONS_DIR, uid, gid)
    if instructor:
        copy_exercises(home / EXERCISES_DIR)
        give(home / EXERCISES_DIR, uid, gid)
    role = "instructor" if instructor else "student"
    spawner.environment = {**spawner.environment, "CNNCOURSE_HUB_ROLE": role,
                           "JUPYTER_CONFIG_PATH": str(ROLE_CONFIG[role]),
                           "PATH": f"{ENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


c.Spawner.pre_spawn_hook = prepare_home

# ---------------------------------------------------------------------------- idle culling

cull_idle = int(setting("CULL_IDLE", "3600"))
if cull_idle > 0:
    c.JupyterHub.services = [{
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={cull_idle}",
                    f"--cull-every={int(setting('CULL_EVERY', '300'))}"],
    }]
    c.JupyterHub.load_roles.append({
        "name": "idle-culler",
        "description": "Stops servers that have been idle too long",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    })
