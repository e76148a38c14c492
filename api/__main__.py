"""`python -m api serve|worker|migrate|check|dev` — see API.md.

Every command but `dev` uses the environment as given; only `dev` (what `make run` calls)
starts embedded servers.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from api.settings import Settings, SettingsError, get_settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Pulse: API and worker.")
err = Console(stderr=True)
logger = logging.getLogger("api")


def _settings() -> Settings:
    try:
        settings = get_settings()
    except SettingsError as error:
        err.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(2) from None
    from api.logs import configure_logging

    configure_logging(settings.log_level, json_lines=settings.json_logs)
    return settings


def _refuse_unsafe_start(settings: Settings, process: str) -> None:
    from api.checks import StartupRefused, enforce_startup

    try:
        asyncio.run(enforce_startup(settings, process=process))
    except StartupRefused as error:
        err.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(1) from None


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the API (HTTP and websocket) with uvicorn."""
    import uvicorn

    settings = _settings()
    _refuse_unsafe_start(settings, "API")
    uvicorn.run(
        "api.app:app_factory",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        lifespan="on",
        ws="websockets-sansio",
        # Subscription frames are small: per-message deflate would cost more CPU than it
        # saves bandwidth, plus a compression context (hundreds of KiB) per open socket.
        ws_per_message_deflate=False,
        # A websocket message is held by the same limit as an HTTP body.
        ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=20,
    )


@cli.command()
def worker(
    check: Annotated[bool, typer.Option("--check", help="Exit 0 if a worker is healthy.")] = False,
) -> None:
    """Run one arq worker (or, with --check, report a running worker's health)."""
    from arq.worker import check_health, run_worker

    from jobs.worker import worker_settings

    settings = _settings()
    options = worker_settings(settings)
    if check:
        raise typer.Exit(check_health(options))
    _refuse_unsafe_start(settings, "worker")
    run_worker(options)


@cli.command()
def migrate() -> None:
    """Apply pending aerich migrations."""
    from api import db

    settings = _settings()
    applied = asyncio.run(db.upgrade(settings))
    err.print(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@cli.command()
def downgrade(
    version: Annotated[int, typer.Option(help="Migration number to roll back to; -1: last.")] = -1,
) -> None:
    """Roll migrations back (aerich downgrade); see the README before using it."""
    from api import db

    settings = _settings()
    undone = asyncio.run(db.downgrade(settings, version))
    err.print(f"rolled back {len(undone)} migration(s): {', '.join(undone)}")


@cli.command()
def check() -> None:
    """Exit non-zero, with the reasons, if production would refuse this configuration."""
    from api.checks import production_problems, warnings_for

    settings = _settings()
    problems = asyncio.run(production_problems(settings))
    for note in warnings_for(settings.model_copy(update={"environment": "production"})):
        err.print(f"[yellow]warning:[/yellow] {note}", highlight=False)
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    err.print("[green]✓ configuration is fit for production[/green]")


@cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Argument(help="Email of the account to make an admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a new account's password from stdin.")
    ] = False,
) -> None:
    """Make EMAIL an admin: promotes an existing account, or creates a verified one."""
    from api.services.errors import ValidationFailed
    from api.services.users import create_admin as promote_or_create

    settings = _settings()

    async def run(password: str | None) -> str:
        from api import db

        await db.init_orm(settings)
        try:
            from api.services.validation import validate_email
            from models.users import User

            exists = await User.exists(email=validate_email(email))
            if not exists and password is None:
                password = (
                    sys.stdin.readline().rstrip("\n")
                    if password_stdin
                    else typer.prompt("Password", hide_input=True, confirmation_prompt=True)
                )
            user = await promote_or_create(email, password)
            return f"{user.email} is now an admin" + ("" if exists else " (new account)")
        finally:
            await db.close_orm()

    try:
        err.print(asyncio.run(run(None)))
    except ValidationFailed as error:
        err.print(f"[red]{error.field or 'input'}: {error.message}[/red]", highlight=False)
        raise typer.Exit(2) from None


@cli.command()
def dev(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
) -> None:
    """`make run`: embedded servers when DATABASE_URL/REDIS_URL are unset, migrations, then
    the API and one worker until Ctrl-C."""
    from api.devserver import run_dev

    raise typer.Exit(run_dev(port=port))


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
