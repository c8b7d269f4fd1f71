"""This client's README, run as written: its install lines in a copy of the
repository, offline, with Debian's python3; then each example's command
against the service started as the example's block says (`make run`, with
the settings the block puts before it)."""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List

import pytest

from conftest import Replica, held_socket

CLIENT = pathlib.Path(__file__).resolve().parent.parent
README = CLIENT / "README.md"
# What the README is written for: Debian's python3 (the python3 first on a
# developer's PATH may be another build, without Debian's packages).
DEBIAN_PYTHON = "/usr/bin/python3"
MAKE_RUN_ADDRESS = "http://localhost:8000"


def sections(markdown: str) -> Dict[str, List[List[str]]]:
    """The ```sh blocks under each ## heading, each a list of commands (a
    line ending in a backslash continues on the next)."""
    out: Dict[str, List[List[str]]] = {}
    heading = ""
    for part in re.split(r"(?m)^(## .*)$", markdown):
        if part.startswith("## "):
            heading = part[3:].strip()
            continue
        for block in re.findall(r"```sh\n(.*?)```", part, re.S):
            out.setdefault(heading, []).append(commands(block))
    return out


def commands(block: str) -> List[str]:
    return [c.strip() for c in re.sub(r"\\\n\s*", "", block).splitlines() if c.strip()]


def offline_env(**extra: str) -> Dict[str, str]:
    """The environment the README's lines run in: no package index (offline,
    as on a machine without one), none of the test run's Python settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "OCS_PY_CLIENT")}
    env.update(PATH=os.path.dirname(DEBIAN_PYTHON) + os.pathsep + env.get("PATH", ""),
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def run(command: str, cwd: pathlib.Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> pathlib.Path:
    """A copy of the repository as far as the README's lines reach, with the
    client installed by the README's Install lines."""
    missing = subprocess.run([DEBIAN_PYTHON, "-c", "import ensurepip, setuptools, wheel, httpx"],
                             capture_output=True, text=True)
    if missing.returncode != 0:
        why = f"{DEBIAN_PYTHON} lacks python3-venv, -setuptools, -wheel or -httpx: {missing.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(CLIENT, root / "clients" / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    install = sections(README.read_text())["Install"]
    assert install, "README.md has no ```sh block under ## Install"
    for command in [c for block in install for c in block]:
        done = run(command, root, offline_env())
        assert done.returncode == 0, f"README's `{command}` failed:\n{done.stdout}\n{done.stderr}"
    return root


def test_the_install_lines_install_the_package_into_the_venv(clone: pathlib.Path) -> None:
    where = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                            "import oauth_callback_client as c; print(c.__file__)"],
                           cwd="/", env=offline_env(), capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(clone / ".venv")), f"imported {where.stdout}, not the venv's copy"


def example_blocks() -> List:
    """Each Examples block: the service's settings (the `make run` line's
    assignments) and the commands to run against it, named by the last."""
    out = []
    for block in sections(README.read_text())["Examples"]:
        settings: Dict[str, str] = {}
        rest = []
        for command in block:
            words = shlex.split(command)
            if words[-2:] == ["make", "run"]:
                settings = dict(w.split("=", 1) for w in words[:-2])
            else:
                rest.append(command)
        out.append(pytest.param(settings, rest, id=rest[-1].rsplit("/", 1)[-1]))
    return out


@pytest.mark.parametrize("settings,commands", example_blocks())
def test_each_example_signs_in_against_make_run(clone: pathlib.Path, settings: Dict[str, str], commands: List[str]) -> None:
    replica = Replica(held_socket(), {})
    # make run's settings, at the test's own address instead of :8000.
    replica.env = {k: v.replace(MAKE_RUN_ADDRESS, replica.url) for k, v in settings.items()}
    replica.start()
    try:
        for command in commands:
            done = run(command, clone, offline_env(CALLBACK_SERVICE_URL=replica.url))
            assert done.returncode == 0, f"README's `{command}` failed:\n{done.stdout}\n{done.stderr}"
            assert done.stdout.splitlines()[-1] == "signed in", done.stdout
    finally:
        replica.close()


def test_the_examples_say_how_to_run_them() -> None:
    """Each example's docstring gives the README's commands for it."""
    blocks = sections(README.read_text())["Examples"]
    for example in ("sign_in.py", "mrtr_signin.py"):
        source = (CLIENT / "examples" / example).read_text()
        doc = source.split('"""')[1]
        block = next(b for b in blocks if b[-1].endswith("/" + example))
        assert all(c in commands(doc) for c in block), \
            f"examples/{example} does not say how to run it as README.md does: {block}"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
