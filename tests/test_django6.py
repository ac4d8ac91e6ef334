"""The Django task backend on Django 6's own `django.tasks`, as well as on Django 5.2 with the backport.

Django 6 needs Python 3.12 or later and this suite runs on 3.11 (with Django 5.2 and `django-tasks`), so the
Django tests (`tests/test_django_tasks.py`) run a second time in a Python 3.12 virtualenv of their own with
Django 6 from PyPI, as a child pytest. The virtualenv is kept under `.venv-django6/` and made again only when
`pyproject.toml` or the interpreter changes: the first run installs (with uv: 15 s to a minute here), later runs only
run the tests. It holds what those tests import, nothing of the rest of the suite's tools (no browser, no docs site).
Python 3.12 is found on the PATH or in pyenv's versions; a machine without it skips this test, CI fails it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.snippets import ROOT

HOME = ROOT / ".venv-django6"
VENV = HOME / "venv"
STAMP = HOME / "installed"
TEST_TOOLS = {"pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "trustme", "moto", "httpx"}
"""The `test` extra's packages `tests/test_django_tasks.py` and the conftest it stands on import."""


def python312() -> str | None:
    """A Python 3.12 or later: `python3.12` on the PATH, else the newest 3.12+ of pyenv's versions."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which("python3.12"), *sorted(map(str, root.glob("versions/3.1[2-9]*/bin/python3")))]
    for candidate in filter(None, candidates):
        ran = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True)
        if ran.returncode == 0 and ran.stdout.strip() == b"True":  # a pyenv shim may exist and refuse to run
            return candidate
    return None


def requirements() -> list[str]:
    """What the virtualenv installs: Conveyor with its Django extra (Django 6 on 3.12), and the test tools at
    the versions the `test` extra asks for."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    tools = [spec for spec in extras["test"] if re.split(r"[<>=\[;! ]", spec, maxsplit=1)[0] in TEST_TOOLS]
    return [f"-e{ROOT}[django,testing]", "django>=6", *tools]


def django6_python(python: str) -> Path:
    """The virtualenv's interpreter, (re)made if what it was made from changed; one maker at a time. Made with
    uv (the `test` extra has it): it fetches in parallel, 15-65 s here where pip took ~5 minutes."""
    stamp = hashlib.sha256(
        "\n".join([python, (ROOT / "pyproject.toml").read_text(), *requirements()]).encode()
    ).hexdigest()
    HOME.mkdir(exist_ok=True)
    with (HOME / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs in one checkout share the virtualenv
        if not STAMP.exists() or STAMP.read_text() != stamp:
            STAMP.unlink(missing_ok=True)
            uv = [sys.executable, "-m", "uv", "--quiet"]
            subprocess.run([*uv, "venv", "--clear", "--python", python, str(VENV)], check=True, timeout=300)
            # The system's certificates, as pip's configuration names them: uv's own bundle does not know a
            # machine's TLS-inspecting proxy (a CI run failed `UnknownIssuer` on PyPI without this).
            install = [*uv, "pip", "install", "--native-tls", "--python", str(VENV / "bin" / "python"), *requirements()]
            subprocess.run(install, check=True, timeout=900)
            STAMP.write_text(stamp)
    return VENV / "bin" / "python"


@pytest.mark.timeout(1200)  # the first run installs Django 6 and Conveyor's dependencies
def test_the_django_tests_pass_on_django_6() -> None:
    python = python312()
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Python 3.12+ in CI (PATH or pyenv): Django 6 is untested")
        pytest.skip("no Python 3.12+ here (PATH or pyenv): the Django tests ran on Django 5.2 only")
    venv_python = django6_python(python)
    version = subprocess.run(
        [str(venv_python), "-c", "import django; print(django.get_version())"], capture_output=True, text=True
    )
    assert version.stdout.startswith("6."), version
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    ran = subprocess.run(
        [str(venv_python), "-m", "pytest", "tests/test_django_tasks.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", ran.stdout) and " skipped" not in ran.stdout, ran.stdout[-3000:]
