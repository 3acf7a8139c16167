"""``poppyscan users list|disable|enable|remove|rotate-token``: accounts after they are made.

Every change takes effect at the user's next request: sessions and tokens are
read from the database each time (:mod:`.auth`), never from a cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from poppyscan.errors import ConfigError
from poppyscan.service.auth import new_token
from poppyscan.service.store import DataDir, connect, transaction

__all__ = ["Account", "list_users", "remove_user", "rotate_token", "set_disabled"]


@dataclass(frozen=True)
class Account:
    name: str
    team: str
    disabled: bool
    tokens: int
    created_at: float


def list_users(data: DataDir) -> list[Account]:
    """Every user, by team then name."""
    con = connect(data)
    try:
        rows = con.execute(
            "SELECT u.name, t.name AS team, u.disabled, u.created_at, (SELECT COUNT(*) FROM "
            "tokens k WHERE k.user_id = u.id) AS tokens FROM users u JOIN teams t ON "
            "t.id = u.team_id ORDER BY t.name, u.name").fetchall()
    finally:
        con.close()
    return [Account(r["name"], r["team"], bool(r["disabled"]), r["tokens"], r["created_at"])
            for r in rows]


def set_disabled(data: DataDir, name: str, disabled: bool) -> None:
    """Disable (sessions ended, tokens refused while disabled) or enable ``name`` again."""
    with _user_transaction(data, name) as (con, user_id):
        con.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user_id))
        if disabled:
            con.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


def remove_user(data: DataDir, name: str) -> None:
    """Remove ``name`` with its sessions and tokens; the team's missions and files stay."""
    with _user_transaction(data, name) as (con, user_id):
        for table in ("sessions", "tokens"):
            con.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
        con.execute("DELETE FROM users WHERE id = ?", (user_id,))


def rotate_token(data: DataDir, name: str) -> str:
    """Revoke every API token of ``name`` and make a new one (returned once)."""
    with _user_transaction(data, name) as (con, user_id):
        con.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
        return new_token(data, con, user_id)


@contextmanager
def _user_transaction(data: DataDir, name: str) -> Iterator[tuple]:
    """A write transaction on the row of user ``name``: (connection, user id); ConfigError if none."""
    con = connect(data)
    try:
        with transaction(con):
            row = con.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ConfigError(f"no user {name!r} in {data.root}")
            yield con, row["id"]
    finally:
        con.close()
