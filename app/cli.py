"""The `calbot` command: serve the API and manage API keys, through the same services.

Start-up matters here (`calbot --help` should answer at once), so this module imports only
typer at load time; each command imports the settings, container, web framework or AWS clients
it needs when it runs. tests/unit/test_cli_startup.py holds it to that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Final, TypeVar

import typer

if TYPE_CHECKING:
    from rich.progress import TaskID

    from app.container import Container

T = TypeVar("T")

# Here rather than in app/cli_google_auth.py, so that showing the help imports nothing else.
DEFAULT_TIMEOUT_SECONDS: Final = 300.0
GOOGLE_AUTH_HELP: Final = (
    "Run Google's consent flow from this terminal and print a refresh token.\n\n"
    "calbot listens on http://127.0.0.1:PORT/api/google/oauth-callback, prints the consent URL "
    "(and opens it in your browser when it can), waits for Google to send the browser back, and "
    "prints the refresh token alone on stdout.\n\n"
    'With a "Desktop app" OAuth client any loopback port works; a "Web application" client must '
    "have that exact redirect URI registered, so pass the registered --port.\n\n"
    "--client-id and --client-secret default to GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET "
    "(prefer those: a secret on the command line lands in shell history).\n\n"
    "Exit 0 on success, 1 when Google refuses, 2 on usage errors or when no answer arrives "
    "before --timeout."
)

cli = typer.Typer(
    name="calbot",
    help="calbot: meeting bots that join every meeting on your Google Calendar.",
    no_args_is_help=True,
    add_completion=False,
)
api_key_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(api_key_cli, name="api-key")
auto_schedule_cli = typer.Typer(help="Auto-scheduling passes.", no_args_is_help=True)
cli.add_typer(auto_schedule_cli, name="auto-schedule")
aws_cli = typer.Typer(help="AWS resources for the AWS backends.", no_args_is_help=True)
cli.add_typer(aws_cli, name="aws")

EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFIG = 4


def _run(work: Callable[[Container], Awaitable[T]]) -> T:
    """Open the configured backends, run one piece of work, close them; errors become exits."""
    import asyncio

    from app.config import ConfigurationError, Settings
    from app.container import open_container
    from app.errors import CalbotError

    async def main() -> T:
        async with open_container(Settings()) as container:
            return await work(container)

    try:
        return asyncio.run(main())
    except ConfigurationError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG) from error
    except CalbotError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND if error.status_code == 404 else 1) from error


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides PORT.")] = None,
) -> None:
    """Run the HTTP API (and the in-process scheduler) until interrupted."""
    import logging

    import uvicorn

    from app.backends import check_backends
    from app.config import ConfigurationError, Settings
    from app.main import create_app
    from app.observability import configure_logging

    settings = Settings()
    configure_logging(logging.INFO)
    try:
        check_backends(settings)
    except ConfigurationError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG) from error
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        log_config=None,  # keep calbot's JSON logging for uvicorn's own lines
    )


@cli.command("google-auth", help=GOOGLE_AUTH_HELP)
def google_auth(
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="OAuth client id (default GOOGLE_CLIENT_ID).")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option("--client-secret", help="Its secret (default GOOGLE_CLIENT_SECRET)."),
    ] = None,
    port: Annotated[int, typer.Option(help="Loopback port to listen on; 0 picks a free one.")] = 0,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for Google's answer.")
    ] = DEFAULT_TIMEOUT_SECONDS,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the URL in a browser if possible.")
    ] = True,
) -> None:
    from app.cli_google_auth import run_google_auth
    from app.config import Settings

    code = run_google_auth(
        client_id,
        client_secret,
        settings=Settings(),
        open_browser=browser,
        port=port,
        timeout_seconds=timeout,
    )
    raise typer.Exit(code)


@api_key_cli.command("create")
def api_key_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key (and its account).")],
    account: Annotated[
        str | None,
        typer.Option(
            "--account", help="Add the key to this existing account instead of a new one."
        ),
    ] = None,
) -> None:
    """Make a new API key and print it alone on one line (it is shown only this once)."""
    if not name.strip():
        typer.echo("error: --name must not be empty.", err=True)
        raise typer.Exit(EXIT_USAGE)
    issued = _run(lambda c: c.api_keys.create(name.strip(), account))
    typer.echo(f"created key {issued.key.key_id} for account {issued.key.account_id}", err=True)
    typer.echo(issued.secret)


@api_key_cli.command("list")
def api_key_list() -> None:
    """List every key (never the key itself): id, account, name, created, revoked."""
    keys = _run(lambda c: c.api_keys.list())
    for key in keys:
        revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
        typer.echo(
            f"{key.key_id}\t{key.account_id}\t{key.name}\t{key.created_at.isoformat()}\t{revoked}"
        )


@api_key_cli.command("revoke")
def api_key_revoke(key_id: Annotated[str, typer.Argument(help="The key id from `list`.")]) -> None:
    """Revoke a key: requests that send it get 401 from now on."""
    _run(lambda c: c.api_keys.revoke(key_id))
    typer.echo(f"revoked {key_id}", err=True)


@auto_schedule_cli.command("run")
def auto_schedule_run() -> None:
    """Run one auto-schedule pass now over every account with auto-scheduling on.

    Works from the stored events (run `calbot sync` first for the freshest view); a running
    `calbot serve` on the same DATA_DIR launches the bots it creates.
    """
    created = _run(lambda c: c.auto_schedule.run_pass())
    typer.echo(f"auto-schedule pass created {created} bot(s)", err=True)
    typer.echo(created)


@cli.command()
def sync(
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account (default: all).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
) -> None:
    """Sync every calendar of every connected account (or one account) with Google now.

    Shows progress per calendar (pages and events; a first sync of a large calendar is a full
    one). Prints the number of calendars synced; exits 1 if any calendar failed.
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from app.errors import CalbotError

    async def work(container: Container) -> tuple[int, int]:
        accounts = [account] if account else await container.stores.connections.connected_accounts()
        synced = failed = 0
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[pages]} pages, {task.completed} events"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
        ) as progress:
            for account_id in accounts:
                for calendar in await container.stores.connections.list_calendars(account_id):
                    task = progress.add_task(calendar.calendar_id, total=None, pages=0)

                    def on_page(pages: int, items: int, task: TaskID = task) -> None:
                        progress.update(task, completed=items, pages=pages)

                    try:
                        outcome = await container.push.refresh_calendar(
                            account_id, calendar.calendar_id, on_page
                        )
                    except CalbotError as error:
                        failed += 1
                        progress.update(task, description=f"{calendar.calendar_id}: {error.detail}")
                        continue
                    kind = "full" if outcome.full_sync else "incremental"
                    if outcome.skipped:
                        kind = "left to another calbot process syncing it"
                    progress.update(task, description=f"{calendar.calendar_id} ({kind})")
                    synced += 1
        return synced, failed

    synced, failed = _run(work)
    typer.echo(synced)
    if failed:
        raise typer.Exit(1)


@aws_cli.command("bootstrap")
def aws_bootstrap(
    queue: Annotated[
        bool, typer.Option("--queue", help="Also create the launch queue and its DLQ.")
    ] = False,
    queue_name: Annotated[
        str | None,
        typer.Option(
            help="Launch queue name (default: from LAUNCH_QUEUE_URL, else calbot-launch)."
        ),
    ] = None,
    schedule_group: Annotated[
        bool,
        typer.Option("--schedule-group", help="Also create EVENTBRIDGE_SCHEDULE_GROUP."),
    ] = False,
) -> None:
    """Create the DynamoDB table (and, when asked, the launch queue and schedule group).

    Idempotent: what exists is left as it is. Prints the variables to set, one per line.
    """
    import asyncio

    from app.adapters.aws.bootstrap import bootstrap_aws
    from app.config import ConfigurationError, Settings

    settings = Settings()
    name = None
    if queue:
        name = queue_name or (
            settings.launch_queue_url.rstrip("/").rsplit("/", 1)[-1]
            if settings.launch_queue_url
            else "calbot-launch"
        )

    async def work() -> list[str]:
        return await bootstrap_aws(settings, queue_name=name, schedule_group=schedule_group)

    try:
        lines = asyncio.run(work())
    except ConfigurationError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG) from error
    for line in lines:
        typer.echo(line)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
