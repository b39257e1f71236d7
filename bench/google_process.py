"""A fake Google with a generated calendar, served from a process of its own.

    python -m bench.google_process --events 10000

Prints `fake Google: ...` while it fills the calendar, then one line `READY <token URL> <Calendar
API URL>`, and serves on loopback until its standard input is closed (the parent exiting closes
it too). What `bench.harness.google_in_child` starts: a benchmark that runs calbot in its own
process then shares no interpreter, and no GIL, with the fake.
"""

from __future__ import annotations

import argparse
import sys

from bench.harness import google_with_calendar


def main(events: int) -> None:
    with google_with_calendar(events) as server:
        print(f"READY {server.token_url} {server.api_url}", flush=True)
        sys.stdin.read()  # until the parent closes it


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, required=True)
    main(parser.parse_args().events)
