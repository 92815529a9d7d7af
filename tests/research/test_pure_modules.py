"""The extractors, URL canonicalizer, query parser, linker, quote matcher and
highlighter are pure.

They import in a bare interpreter: no Django settings, and no Celery app loaded
behind their back (which would also set DJANGO_SETTINGS_MODULE as a side effect).
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import run_python

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
        "research.textquote",
        "research.annotation_render",
        "portal.units",
    ],
)
def test_module_imports_without_django_settings(module):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = run_python(CHECK.format(module=module), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
