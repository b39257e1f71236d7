"""Run every benchmark, one after the other, then repeat their RESULT lines as a summary.

Each script runs as its own process with its default sizes; its output is shown as it comes.
The last line counts the verdicts: `bench: N PASS, M MISS`. A MISS is a finding, not a failure
(exit 0); a script that crashes, or ends without a RESULT line, fails the run
(exit 1) after the others have run.

    PYTHONPATH=. .venv/bin/python -m bench.run_all [name ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = (
    "full_sync",
    "incremental_sync",
    "get_events",
    "get_events_page",
    "memory",
    "cli_startup",
    "auto_schedule_rules",
)


def run(name: str) -> tuple[list[str], int]:
    """Run bench/<name>.py, echoing its output; its RESULT lines and exit code."""
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(BENCH / f"{name}.py")]
    results: list[str] = []
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("RESULT "):
                results.append(line.rstrip("\n"))
    return results, process.returncode


def main(names: list[str]) -> int:
    summary: list[str] = []
    passed = missed = crashed = 0
    started = time.monotonic()
    for name in names:
        print(f"\n== bench/{name}.py", flush=True)
        script_started = time.monotonic()
        results, code = run(name)
        print(f"== bench/{name}.py took {time.monotonic() - script_started:.0f} s", flush=True)
        if code != 0 or not results:
            crashed += 1
            summary.append(f"CRASH {name}: exit code {code}, {len(results)} RESULT lines")
            continue
        # One verdict per RESULT line: a script may measure more than one goal.
        for result in results:
            summary.append(result)
            if result.endswith(" PASS"):
                passed += 1
            else:
                missed += 1
    print(f"\n== summary ({time.monotonic() - started:.0f} s)")
    print("\n".join(summary))
    crashes = f", {crashed} CRASHED" if crashed else ""
    print(f"bench: {passed} PASS, {missed} MISS{crashes}")
    return 1 if crashed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(SCRIPTS)} (default all)")
    names = parser.parse_args().names or list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}")
    sys.exit(main(names))
