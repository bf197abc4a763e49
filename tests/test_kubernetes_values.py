"""deploy/kubernetes/values.yaml, the Zero to JupyterHub values, checked without a cluster.

There is no Kubernetes here, so the file is checked for structure: it parses, and every key sits
where the chart's schema (jupyterhub/values.schema.yaml of zero-to-jupyterhub-k8s, the chart's
own JSON schema that `helm` validates values against) puts it, with the types it asks for. The
key lists below were read from that schema; they are the subset this file may use. The memory
figures must follow from the measured kernel size, and the Python and commands the file carries
are run here for real: the nbgrader config, the server config (a student's server must not
offer the formgrader) and the command that copies the lessons into a home.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

from .servers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "deploy" / "kubernetes" / "values.yaml"
PVCS = ROOT / "deploy" / "kubernetes" / "exchange-pvc.yaml"

KERNEL_MIB = 567  # one kernel with torch imported (issue 16's measurement)
SERVER_MIB = 170  # a Jupyter server with JupyterLab, Voila and nbgrader, in use, no kernel

# From the chart's values.schema.yaml: the properties allowed at each place this file uses.
TOP = {"enabled", "fullnameOverride", "nameOverride", "imagePullSecret", "imagePullSecrets",
       "hub", "proxy", "singleuser", "ingress", "prePuller", "custom", "cull", "debug", "rbac",
       "global", "scheduling"}
HUB = {"config", "extraConfig", "loadRoles", "extraEnv", "extraFiles", "services",
       "concurrentSpawnLimit", "activeServerLimit", "baseUrl", "image", "db", "resources"}
SINGLEUSER = {"networkPolicy", "podNameTemplate", "cpu", "memory", "image", "initContainers",
              "profileList", "extraFiles", "extraEnv", "nodeSelector", "extraTolerations",
              "extraNodeAffinity", "extraPodAffinity", "extraPodAntiAffinity", "cloudMetadata",
              "cmd", "defaultUrl", "events", "extraAnnotations", "extraContainers",
              "extraLabels", "extraPodConfig", "extraResource", "fsGid", "lifecycleHooks",
              "networkTools", "serviceAccountName", "startTimeout", "storage",
              "allowPrivilegeEscalation", "uid"}
IMAGE = {"name", "tag", "pullPolicy", "pullSecrets"}
STORAGE = {"capacity", "dynamic", "extraLabels", "extraVolumeMounts", "extraVolumes",
           "homeMountPath", "static", "type"}
EXTRA_FILE = {"mountPath", "data", "stringData", "binaryData", "mode"}
CULL = {"enabled", "users", "adminUsers", "removeNamedServers", "timeout", "every",
        "concurrency", "maxAge"}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def mib(quantity) -> float:
    """A KubeSpawner memory quantity in MiB (JupyterHub's ByteSpecification: 1G is 1 GiB)."""
    from jupyterhub.traitlets import ByteSpecification

    return ByteSpecification().validate(None, quantity) / 2**20


def test_every_key_is_where_the_chart_schema_puts_it(values):
    assert set(values) <= TOP, set(values) - TOP
    assert set(values["hub"]) <= HUB, set(values["hub"]) - HUB
    singleuser = values["singleuser"]
    assert set(singleuser) <= SINGLEUSER, set(singleuser) - SINGLEUSER
    assert set(singleuser["image"]) <= IMAGE and {"name", "tag"} <= set(singleuser["image"])
    assert isinstance(singleuser["image"]["tag"], str)  # a number would not be a tag
    assert singleuser["image"]["pullPolicy"] in (None, "", "IfNotPresent", "Always", "Never")
    for resource in ("memory", "cpu"):
        assert set(singleuser[resource]) <= {"limit", "guarantee"}
    assert all(isinstance(v, int | float) for v in singleuser["cpu"].values())
    storage = singleuser["storage"]
    assert set(storage) <= STORAGE and {"type", "homeMountPath"} <= set(storage)
    assert storage["type"] in ("dynamic", "static", "none")
    assert isinstance(storage["extraVolumes"], list)
    assert isinstance(storage["extraVolumeMounts"], list)
    for entry in singleuser["extraFiles"].values():
        assert set(entry) <= EXTRA_FILE and "mountPath" in entry
        assert sum(k in entry for k in ("data", "stringData", "binaryData")) == 1
    assert set(singleuser["lifecycleHooks"]) <= {"postStart", "preStop"}
    assert set(values["cull"]) <= CULL
    assert values["cull"]["enabled"] is True
    assert all(isinstance(values["cull"][k], int) for k in ("timeout", "every"))
    for name, role in values["hub"]["loadRoles"].items():  # a dict of roles, not a list
        assert isinstance(role["scopes"], list), name
    assert {"hook", "continuous"} <= set(values["prePuller"])
    assert isinstance(values["scheduling"]["userScheduler"]["enabled"], bool)


def test_memory_follows_from_the_measured_kernel_size(values):
    memory = values["singleuser"]["memory"]
    guarantee, limit = mib(memory["guarantee"]), mib(memory["limit"])
    assert guarantee >= SERVER_MIB + KERNEL_MIB  # the server and one kernel always fit
    assert limit >= SERVER_MIB + 3 * KERNEL_MIB  # a lesson, a dashboard and a problem set
    assert limit < SERVER_MIB + 5 * KERNEL_MIB  # but not a machine's worth per student


def test_the_exchange_and_data_volumes_are_mounted_and_claimed(values):
    storage = values["singleuser"]["storage"]
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in storage["extraVolumes"]}
    mounted = {m["name"]: m["mountPath"] for m in storage["extraVolumeMounts"]}
    assert set(volumes) == set(mounted)
    claims = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(PVCS.read_text())}
    for claim in volumes.values():
        assert claims[claim]["spec"]["accessModes"] == ["ReadWriteMany"], claim
    config = run_config(values["singleuser"]["extraFiles"]["nbgrader-config"]["stringData"], {})
    assert config.Exchange.root == mounted["nbgrader-exchange"]
    assert values["singleuser"]["extraEnv"]["CNNCOURSE_DATA"].startswith(
        mounted["cnncourse-data"] + "/")


def run_config(source: str, env: dict[str, str]) -> Config:
    """Execute a Jupyter config file's text as Jupyter would, with ``env`` as the environment."""
    config = Config()
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        exec(compile(source, "config", "exec"), {"get_config": lambda: config})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return config


def test_only_instructors_get_a_course_folder(values):
    source = values["singleuser"]["extraFiles"]["nbgrader-config"]["stringData"]
    assert "root" not in run_config(source, {"CNNCOURSE_HUB_ROLE": "student"}).CourseDirectory
    instructor = run_config(source, {"CNNCOURSE_HUB_ROLE": "instructor"})
    assert instructor.CourseDirectory.root.startswith(values["singleuser"]["storage"]
                                                      ["homeMountPath"])
    compile(values["hub"]["extraConfig"]["cnncourse-roles.py"], "extraConfig", "exec")


@pytest.mark.slow
def test_a_students_server_offers_no_formgrader(values, tmp_path):
    """The server config the pods get, in a real Jupyter server: no formgrader for a student."""
    folder = tmp_path / "etc-jupyter"
    folder.mkdir()
    (folder / "jupyter_server_config.py").write_text(
        values["singleuser"]["extraFiles"]["server-config"]["stringData"])
    port, token = free_port(0), "values-test"
    server = Server([sys.executable, "-m", "jupyter", "server", "--no-browser",
                     f"--port={port}", "--ServerApp.ip=127.0.0.1",
                     f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
                     *(["--allow-root"] if os.geteuid() == 0 else [])],
                    f"http://127.0.0.1:{port}/", tmp_path / "server.log", cwd=tmp_path,
                    env={"JUPYTER_CONFIG_PATH": str(folder), "CNNCOURSE_HUB_ROLE": "student"})
    try:
        server.wait_until_up(f"api/status?token={token}")
        import urllib.error
        import urllib.request

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"{server.url}{path}?token={token}") as response:
                    return response.status
            except urllib.error.HTTPError as err:
                return err.code

        assert status("assignments?course_id=cnncourse") == 200  # the Assignments tab stays
        assert status("formgrader") == 404
    finally:
        server.stop()


def test_the_start_command_copies_the_lessons_into_the_home(values, tmp_path):
    command = values["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    assert command[0] == "python"
    subprocess.run([sys.executable, *command[1:]], env={**os.environ, "HOME": str(tmp_path)},
                   check=True, timeout=120)
    lessons = tmp_path / "cnncourse-lessons"
    assert sorted(lessons.glob("01_*.ipynb")) and (lessons / "dashboards" / "index.ipynb").is_file()
    assert values["singleuser"]["defaultUrl"] == "/lab/tree/cnncourse-lessons"
