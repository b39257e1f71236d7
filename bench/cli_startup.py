"""Start-up of the `calbot` command: `calbot --help` against `python -c pass`.

Each is run as a fresh subprocess, interleaved, in an empty working directory with calbot's
settings removed from the environment (tests/e2e/servers.calbot_env), and timed from spawn to
exit. Goal: `calbot --help` within 0.5 s (commands import what they need when they run).

    PYTHONPATH=. .venv/bin/python bench/cli_startup.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import Result, interleave, report, show, stopwatch
from tests.e2e.servers import CALBOT, calbot_env

GOAL_S = 0.5


def run(command: list[str], workdir: Path, env: dict[str, str]) -> None:
    subprocess.run(command, cwd=workdir, env=env, capture_output=True, check=True, timeout=60)


def main(rounds: int) -> Result:
    print(f"`calbot --help` against `python -c pass`, {rounds} rounds (medians):")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as directory:
        workdir = Path(directory)
        env = calbot_env(workdir / "data")
        samples = interleave(
            {
                "python": lambda: stopwatch(
                    lambda: run([sys.executable, "-c", "pass"], workdir, env)
                ),
                "calbot": lambda: stopwatch(lambda: run([*CALBOT, "--help"], workdir, env)),
            },
            rounds,
        )
    python_s = show("python -c pass", samples["python"], "s")
    calbot_s = show("calbot --help", samples["calbot"], "s")
    return Result("cli_startup", "s", calbot_s, python_s, f"calbot<={GOAL_S}s", calbot_s <= GOAL_S)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    arguments = parser.parse_args()
    report(main(arguments.rounds))
