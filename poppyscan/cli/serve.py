"""``poppyscan serve`` and ``poppyscan users``: the survey service and its accounts."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.errors import ConfigError

DATA_HELP = "Service data folder: state.sqlite, uploads, runs, registries (created when new)."


def need_serve_extra() -> None:
    """One clear line when the ``serve`` extra is not installed."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "httpx", "segno") if not importlib.util.find_spec(m)]
    if missing:
        raise ConfigError(f"the service needs {', '.join(missing)}: pip install 'poppyscan[serve]'")


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=DATA_HELP)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets phones and other machines on the network in.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="TCP port, 1-65535.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Detection worker processes, 1-64 [one per GPU, else 1].")
@click.option("--model", default=None, type=click.Path(exists=True),
              help="Model bundle folder the workers run [the bundled demo model].")
@click.option("--device", default=None,
              help="cpu, cuda, cuda:N or auto for every worker [auto: a GPU each when several].")
@click.option("--max-upload-gb", type=click.FloatRange(0.001, 10_000), default=200.0,
              show_default=True, help="Largest orthomosaic accepted, in GB (10^9 bytes).")
@click.option("--team-quota-gb", type=click.FloatRange(0.001, 1_000_000), default=1000.0,
              show_default=True, help="All of one team's uploads together, in GB.")
@click.option("--team-quota-mpx", type=click.IntRange(1, 10**9), default=2_000_000,
              show_default=True, help="Pixels of all of one team's checked files, in megapixels.")
@click.option("--upload-expiry-h", type=click.FloatRange(0.1, 24 * 365), default=48.0,
              show_default=True, help="Hours after its start an unfinished upload is deleted.")
@click.option("--max-open-uploads", type=click.IntRange(1, 10_000), default=32,
              show_default=True, help="Unfinished uploads one team may hold at once.")
def serve(data_dir, host, port, workers, model, device, max_upload_gb, team_quota_gb,
          team_quota_mpx, upload_expiry_h, max_open_uploads) -> None:
    """Run the survey service: web app, uploads and detection workers, state under --data.

    Add accounts with `poppyscan users add`; teams log in at http://HOST:PORT/ or
    use `poppyscan upload` with their API token.
    """
    need_serve_extra()
    from poppyscan.service.serve import serve as run
    from poppyscan.service.store import ServiceSettings

    settings = ServiceSettings(max_upload_bytes=int(max_upload_gb * 1e9),
                               team_quota_bytes=int(team_quota_gb * 1e9),
                               team_quota_px=team_quota_mpx * 1_000_000,
                               upload_expiry_h=upload_expiry_h, max_open_uploads=max_open_uploads)
    run(data_dir, host=host, port=port, workers=workers, model=model, device=device,
        settings=settings, echo=click.echo)


@click.group()
def users() -> None:
    """Accounts of the survey service."""


@users.command("add")
@click.argument("name")
@click.option("--team", required=True, help="Team the user works in (created when new); every "
              "mission, file and registry belongs to one team.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=DATA_HELP)
def add(name, team, data_dir) -> None:
    """Add user NAME: prints a password (browser) and an API token (`poppyscan upload`), once."""
    need_serve_extra()
    from poppyscan.service.auth import add_user
    from poppyscan.service.store import DataDir

    user, password, token = add_user(DataDir(data_dir).create(), name, team)
    click.echo(f"user {user.name} in team {user.team}; shown once, stored only hashed:")
    click.echo(f"  password: {password}")
    click.echo(f"  token:    {token}")


@users.command("list")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=DATA_HELP)
def list_cmd(data_dir) -> None:
    """Every user: team, state, API tokens held, created (UTC)."""
    import datetime as dt

    from poppyscan.service.accounts import list_users

    for a in list_users(_existing(data_dir)):
        created = dt.datetime.fromtimestamp(a.created_at, dt.timezone.utc).strftime("%Y-%m-%d")
        click.echo(f"{a.name}\tteam {a.team}\t{'disabled' if a.disabled else 'active'}\t"
                   f"{a.tokens} token{'s' if a.tokens != 1 else ''}\tcreated {created}")


def _name_command(name: str, help_text: str):
    def decorate(func):
        func.__doc__ = help_text
        func = click.option("--data", "data_dir", required=True, help=DATA_HELP,
                            type=click.Path(file_okay=False, path_type=Path))(func)
        return users.command(name)(click.argument("name")(func))
    return decorate


@_name_command("disable", "Disable user NAME: sessions end, password and tokens are refused.")
def disable(name, data_dir) -> None:
    from poppyscan.service.accounts import set_disabled

    set_disabled(_existing(data_dir), name, True)
    click.echo(f"user {name} disabled")


@_name_command("enable", "Enable user NAME again (its password and tokens work again).")
def enable(name, data_dir) -> None:
    from poppyscan.service.accounts import set_disabled

    set_disabled(_existing(data_dir), name, False)
    click.echo(f"user {name} enabled")


@_name_command("remove", "Remove user NAME, its sessions and tokens (the team's work stays).")
def remove(name, data_dir) -> None:
    from poppyscan.service.accounts import remove_user

    remove_user(_existing(data_dir), name)
    click.echo(f"user {name} removed")


@_name_command("rotate-token", "Revoke every API token of NAME and print a new one, once.")
def rotate_token(name, data_dir) -> None:
    from poppyscan.service.accounts import rotate_token as rotate

    token = rotate(_existing(data_dir), name)
    click.echo(f"user {name}: old tokens revoked; new token, shown once: {token}")


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=DATA_HELP)
@click.argument("out", type=click.Path(path_type=Path))
def backup(data_dir, out) -> None:
    """Copy the service's state, token key and team registries into new folder OUT.

    A consistent copy while the service runs (SQLite's online backup). Uploads and
    runs (files/, jobs/) are copied with any file tool; the README says how to restore.
    """
    from poppyscan.service.backup import backup as run

    for path in run(_existing(data_dir), out):
        click.echo(str(path))


def _existing(data_dir: Path):
    """The data folder of a service that exists (checked, never created here)."""
    need_serve_extra()
    from poppyscan.service.store import DataDir

    data = DataDir(data_dir)
    if not data.db.is_file():
        raise ConfigError(f"{data_dir}: no service data folder (no state.sqlite)")
    return data.create()  # checks the database and adds columns newer than the folder
