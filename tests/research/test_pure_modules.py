"""The extractors, the URL canonicalizer, the query parser and the linker are pure.

They import in a bare interpreter: no Django settings, and no Celery app loaded
behind their back (which would also set DJANGO_SETTINGS_MODULE as a side effect).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHECK = (
    "import os, sys, {module}; "
    "loaded = sorted(name for name in sys.modules if name.split('.')[0] == 'celery'); "
    "assert not loaded, 'loaded Celery: ' + ', '.join(loaded[:3]); "
    "assert 'DJANGO_SETTINGS_MODULE' not in os.environ, 'set DJANGO_SETTINGS_MODULE'"
)


@pytest.mark.parametrize(
    "module",
    [
        "research.extract",
        "research.canonical",
        "research.search.query",
        "research.linker",
        "portal.units",
    ],
)
def test_module_imports_without_django_settings(module):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
