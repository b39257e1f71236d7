"""Arrows point one way: routers -> services -> ports <- adapters, with the domain below all.

Every module under app/ is parsed (not imported) and each of its imports is checked against the
table of layers below; the same goes for the outside libraries that one layer owns (ruff's
banned-api rule exempts whole files, so this is the precise check). A failure names the file,
the line and the import, and says what that layer may import instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    modules: tuple[str, ...]
    may_import: frozenset[str]


def _layer(name: str, modules: tuple[str, ...], *may_import: str) -> Layer:
    return Layer(name, modules, frozenset({name, *may_import}))


# Lowest first. A module belongs to the layer with the longest matching prefix.
LAYERS = (
    _layer(
        "domain",
        (
            *("app.domain", "app.identity", "app.errors", "app.config", "app.data", "app.bounded"),
            "app.collector",
            *("app.bot_payload", "app.bot_changes", "app.calendar_messages"),
            # Webhooks: the records, the message envelope, signing, the outbox bell; all pure.
            *("app.webhook_records", "app.webhook_messages", "app.webhook_signing"),
            "app.outbox_bell",
        ),
    ),
    _layer("ports", ("app.adapters.ports",), "domain"),
    _layer("observability", ("app.observability",), "domain"),
    _layer("services", ("app.services",), "domain", "ports", "observability"),
    _layer("adapters", ("app.adapters",), "domain", "ports"),
    _layer("schemas", ("app.schemas", "app.rule_schemas", "app.decision_schemas"), "domain"),
    _layer(
        "http",
        (
            "app.routers",
            "app.http_errors",
            "app.idempotency",
            "app.json_bodies",
            "app.fresh_listing",
        ),
        *("domain", "ports", "observability", "services", "schemas", "deps"),
    ),
    _layer("deps", ("app.deps",), "domain", "observability", "services", "composition"),
    _layer(
        "composition",
        ("app.container", "app.backends", "app.jobs"),
        *("domain", "ports", "observability", "services", "adapters"),
    ),
    _layer(
        "app",
        ("app.main",),
        *("domain", "ports", "observability", "schemas", "http", "deps", "composition"),
    ),
    _layer(
        "commands",
        ("app.cli", "app.cli_google_auth"),
        *("domain", "ports", "observability", "services", "adapters", "composition", "app"),
    ),
)

OWNED_LIBRARIES = {
    "httpx": ("app.adapters", "app.container"),
    "aiobotocore": ("app.adapters.aws",),
    "botocore": ("app.adapters.aws",),
    "aiosqlite": ("app.adapters.sqlite",),
    "fastapi": ("app.main", "app.deps", "app.http_errors", "app.routers"),
    "starlette": (
        "app.main",
        "app.deps",
        "app.http_errors",
        "app.routers",
        "app.observability",
        "app.idempotency",
        "app.json_bodies",
        "app.fresh_listing",
    ),
    "prometheus_client": ("app.observability",),
}


@dataclass(frozen=True, slots=True)
class Import:
    line: int
    module: str


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> Layer | None:
    matches = [
        (len(prefix), layer)
        for layer in LAYERS
        for prefix in layer.modules
        if _within(module, prefix)
    ]
    return max(matches, key=lambda match: match[0])[1] if matches else None


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _app_modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


APP_MODULES = frozenset(module_name(path) for path in _app_modules())


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every module the source imports, relative imports resolved, TYPE_CHECKING ones too."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from app.routers import consent` names a module
                submodule = f"{base}.{alias.name}"
                yield Import(node.lineno, submodule if submodule in APP_MODULES else base)


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """What is wrong with the imports of one module, one sentence each."""
    importer = layer_of(module)
    if importer is None:
        return [f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}."]
    found: list[str] = []
    for imported in imports_of(source, module, is_package=is_package):
        target = imported.module
        where = f"{module} (line {imported.line}) imports {target}"
        if _within(target, "app"):
            layer = layer_of(target)
            if layer is not None and layer.name not in importer.may_import:
                allowed = ", ".join(sorted(importer.may_import))
                found.append(
                    f"{where}: {importer.name} must not import {layer.name} "
                    f"(it may import {allowed})."
                )
            continue
        top = target.partition(".")[0]
        owners = OWNED_LIBRARIES.get(top)
        if owners is not None and not any(_within(module, owner) for owner in owners):
            found.append(f"{where}: only {', '.join(owners)} may import {top}.")
    return sorted(set(found))


def test_every_import_in_app_points_down_the_layers() -> None:
    found = [
        problem
        for path in _app_modules()
        if path != APP / "__init__.py"
        for problem in violations(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
        )
    ]
    assert not found, "Imports against the arrows:\n" + "\n".join(found)


def test_the_scan_sees_the_whole_app() -> None:
    expected = {"app.main", "app.container", "app.adapters.ports", "app.services.launcher"}
    assert expected <= APP_MODULES


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        (
            "app.adapters.aws.launch_queue",
            "from app.services.launcher import Launcher\n",
            "adapters must not import services",
        ),
        (
            "app.services.scheduling",
            "from app.adapters.sqlite import sqlite_stores\n",
            "services must not import adapters",
        ),
        ("app.services.sync", "import app.routers.events\n", "services must not import http"),
        ("app.routers.events", "from app.container import Container\n", "http must not import"),
        ("app.deps", "from app.main import create_app\n", "deps must not import app"),
        ("app.domain", "from app.adapters.ports import Clock\n", "domain must not import ports"),
        ("app.adapters.ports.bots", "from ..sqlite import store\n", "ports must not import"),
        ("app.services.scheduling", "import httpx\n", "only app.adapters, app.container"),
        ("app.services.launcher", "from fastapi import Depends\n", "may import fastapi"),
        ("app.jobs", "from prometheus_client import Counter\n", "only app.observability"),
        ("app.adapters.google", "import botocore.config\n", "only app.adapters.aws"),
        ("app.new_module", "", "belongs to no layer"),
    ],
)
def test_an_import_against_the_arrows_is_named(module: str, source: str, complaint: str) -> None:
    (problem,) = violations(source, module)
    assert complaint in problem
    assert module in problem


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("app.services.launcher", "from app.adapters.ports import BotApi\n"),
        ("app.adapters.google", "from app.adapters.retry import RetryPolicy\n"),
        ("app.routers.scheduling", "from app.services.scheduling import BotChanges\n"),
        ("app.container", "from app.adapters.sqlite import sqlite_stores\nimport httpx\n"),
        ("app.adapters.aws.launch_queue", "from botocore.exceptions import ClientError\n"),
    ],
)
def test_an_import_along_the_arrows_passes(module: str, source: str) -> None:
    assert violations(source, module) == []
