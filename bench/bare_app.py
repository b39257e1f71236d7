"""A bare FastAPI app answering with one recorded get_events body: the framework's floor.

`/bytes` returns the recorded bytes as they are; `/dicts` returns the same events as Python
dicts, so FastAPI encodes them on every request (its default path for a returned dict).
Served by uvicorn with the arguments `calbot serve` gives it (one process, log level info).

    PYTHONPATH=. python -m bench.bare_app --port 8001 body.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Response


def build_app(body: bytes) -> FastAPI:
    app = FastAPI()
    events: dict[str, Any] = json.loads(body)

    @app.get("/bytes")
    async def recorded_bytes() -> Response:
        return Response(content=body, media_type="application/json")

    @app.get("/dicts")
    async def encoded_dicts() -> dict[str, Any]:
        return events

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("body", type=Path, help="the JSON body to serve")
    arguments = parser.parse_args()
    app = build_app(arguments.body.read_bytes())
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="info")


if __name__ == "__main__":
    main()
