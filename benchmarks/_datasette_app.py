"""Datasette's ASGI app for uvicorn, configured by bench_datasette.py (runs in Datasette's venv).

``datasette serve`` runs one process and logs every request; uvicorn with this module runs
as many worker processes as the portal's gunicorn, without an access log, so the two
servers compare like for like. $BENCH_DATASETTE holds the JSON written by bench_datasette.py.
"""

import json
import os
from pathlib import Path

from datasette.app import Datasette

_config = json.loads(Path(os.environ["BENCH_DATASETTE"]).read_text())
app = Datasette(
    immutables=[_config["database"]],
    inspect_data=_config["inspect"],
    metadata=_config["metadata"],
    settings=_config["settings"],
).app()
