"""The project installs from pyproject.toml alone and every module imports.

A dependency that only arrives through another package's extra, or through the
dev tools, is missing for whoever installs the portal without ``[dev]``; this
builds that installation in a new virtual environment to find out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_python

pytestmark = [pytest.mark.package_index]

PACKAGES = ("portal", "agreements", "research")

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
import django
django.setup()
failed = []
for package in {packages!r}:
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        try:
            importlib.import_module(module.name)
        except Exception as exc:
            failed.append(f"{{module.name}}: {{exc.__class__.__name__}}: {{exc}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""

# What a page's extraction loads must come from the project's own requirements or
# theirs, never only from some package's optional extra.
UNDECLARED = """
import re, sys
from importlib import metadata
from research.extract import extract
extract(open({page!r}, "rb").read(), content_type="text/html", filename="page.html")
def name(requirement):
    return re.split(r"[ ;<>=!~\\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")
reached, todo = set(), [name(r) for r in metadata.requires("portal-287g") if "extra ==" not in r]
while todo:
    dist = todo.pop()
    if dist in reached:
        continue
    reached.add(dist)
    try:
        todo += [name(r) for r in metadata.requires(dist) or [] if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        pass
loaded = metadata.packages_distributions()
used = {{d.lower().replace("_", "-") for m in list(sys.modules) for d in loaded.get(m.split(".")[0], [])}}
print(" ".join(sorted(used - reached - {{"pip", "setuptools", "portal-287g"}})))
"""


def _copy_project(target) -> None:
    """pyproject.toml, the README it names and the packages: nothing else of the checkout."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=ignore)


def test_the_project_installs_without_dev_extras_and_every_module_imports(tmp_path):
    source = tmp_path / "source"
    _copy_project(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # pip's cache (and any local wheels it is configured with) keeps this to a few
    # downloads after the first run.
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"  # not the checkout: the installed copy is imported
    elsewhere.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path / "var"),
        "PORTAL_ENV_FILE": str(tmp_path / "no.env"),
    }
    code = IMPORT_EVERY_MODULE.format(packages=PACKAGES)
    done = run_python(code, python=python, cwd=elsewhere, env=env, timeout=300)

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    page = ROOT / "tests" / "research" / "data" / "article_287g.html"
    code = UNDECLARED.format(page=str(page))
    undeclared = run_python(code, python=python, cwd=elsewhere, env=env, timeout=300)
    assert undeclared.returncode == 0, undeclared.stderr[-3000:]
    assert undeclared.stdout.split() == [], "used but only reached through an extra"
