"""`calbot --help` answers at once: showing the help loads none of the heavy libraries.

A user notices this as start-up time (bench/cli_startup.py measures it, goal 0.5 s): the web
framework, the server, the AWS SDK and the HTTP client took most of two seconds to import
before any command ran. The help is shown in a fresh interpreter, as the console script does,
and the modules it loaded are read from `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Imported by commands when they run, never to show the help.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "aiobotocore",
    "botocore",
    "aiohttp",
    "httpx",
    "aiosqlite",
    "pydantic_settings",
    "prometheus_client",
    "app.container",
    "app.main",
)

_SHOW_HELP = """
import json, runpy, sys
sys.argv = ["calbot", *sys.argv[1:]]
try:
    runpy.run_module("app.cli", run_name="__main__")
except SystemExit as done:
    code = done.code
else:
    code = 0
loaded = sorted({name.split(".")[0] if not name.startswith("app.") else name
                 for name in sys.modules})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _help_loads(*args: str) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SHOW_HELP, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert "Usage" in done.stdout, done.stdout
    return report["code"], set(report["loaded"])


@pytest.mark.parametrize("args", [("--help",), ("sync", "--help"), ("api-key", "--help")])
def test_help_imports_no_heavy_library(args: tuple[str, ...]) -> None:
    code, loaded = _help_loads(*args)
    assert code in (0, None)
    assert sorted(loaded.intersection(HEAVY)) == []
