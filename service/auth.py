"""Accounts: teams, users, hashed passwords and API tokens, browser sessions.

Passwords are stored only as scrypt hashes (standard library, N=2^14, r=8,
p=1, 16-byte salt). A token reads ``pst_<token id>_<secret>``: the id finds the
row, the secret is checked against its HMAC-SHA256 under the data folder's own
key (``secret.key``): a 256-bit random secret needs no slow hash, and a wrong
secret then costs a microsecond, not a 16 MiB scrypt. Every request reads the
token's and the user's rows, so a removed token or a disabled user is refused
at once (tokens made before the HMAC are checked by scrypt once, then rehashed).
Browser sessions are
random 256-bit cookies (``HttpOnly``, ``SameSite=Strict``) stored as SHA-256
digests: unguessable random values need no slow hash, and every map tile
request carries one. Tokens are read from the ``Authorization: Bearer``
header only, never from a query string (where logs and browser history keep them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from poppyscan.errors import ConfigError
from poppyscan.service.store import DataDir, connect, new_id, now, transaction

__all__ = ["User", "add_user", "check_password", "hash_secret", "hash_token", "login", "logout",
           "new_token", "user_from_session", "user_from_token", "verify_secret"]

SESSION_COOKIE = "poppyscan_session"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOKEN = re.compile(r"pst_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class User:
    id: str
    name: str
    team_id: str
    team: str


def hash_secret(secret: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex) of ``secret``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` hashes to ``stored`` (constant-time comparison)."""
    _, n, r, p, salt, digest = stored.split("$")
    got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r),
                         p=int(p))
    return hmac.compare_digest(got.hex(), digest)


def hash_token(data: DataDir, secret: str) -> str:
    """``hmac-sha256$<hex>`` of an API token's secret under the data folder's key."""
    mac = hmac.new(data.secret_key(), secret.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256${mac}"


def new_token(data: DataDir, con, user_id: str) -> str:
    """A new API token for ``user_id`` (inside the caller's transaction): shown once."""
    token_id, token_secret = new_id(), secrets.token_urlsafe(32)
    con.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                (token_id, user_id, hash_token(data, token_secret), now()))
    return f"pst_{token_id}_{token_secret}"


_DUMMY_HASH = hash_secret("no such user")  # unknown names take as long as wrong passwords


def add_user(data: DataDir, name: str, team: str) -> tuple[User, str, str]:
    """Create user ``name`` in ``team`` (made when new): the user, a password and an API token.

    The password and token are returned once and stored only hashed.
    """
    for what, value in (("user name", name), ("team name", team)):
        if not _NAME.fullmatch(value):
            raise ConfigError(f"{what} {value!r} is invalid: 1-32 letters, digits, '_', '.' or "
                              "'-', starting with a letter or digit")
    password = secrets.token_urlsafe(15)
    con = connect(data)
    try:
        with transaction(con):
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise ConfigError(f"user {name!r} already exists in {data.root}")
            row = con.execute("SELECT id FROM teams WHERE name = ?", (team,)).fetchone()
            team_id = row["id"] if row else new_id()
            if row is None:
                con.execute("INSERT INTO teams VALUES (?, ?)", (team_id, team))
            user = User(new_id(), name, team_id, team)
            con.execute("INSERT INTO users (id, name, team_id, password_hash, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (user.id, name, team_id, hash_secret(password), now()))
            token = new_token(data, con, user.id)
    finally:
        con.close()
    return user, password, token


def check_password(con, name: str, password: str) -> User | None:
    """The user when ``password`` is right, else None (same work either way)."""
    row = _user_row(con, "u.name = ?", name)
    ok = verify_secret(password, row["password_hash"] if row else _DUMMY_HASH)
    return _user(row) if ok and row else None


def login(con, user: User, hours: float) -> str:
    """A new session for ``user``: the cookie value (stored only as its digest)."""
    value = secrets.token_urlsafe(32)
    with transaction(con):
        con.execute("DELETE FROM sessions WHERE expires_at < ?", (now(),))
        con.execute("INSERT INTO sessions VALUES (?, ?, ?)",
                    (_digest(value), user.id, now() + hours * 3600))
    return value


def logout(con, cookie: str) -> None:
    with transaction(con):
        con.execute("DELETE FROM sessions WHERE digest = ?", (_digest(cookie),))


def user_from_session(con, cookie: str) -> User | None:
    row = con.execute("SELECT user_id FROM sessions WHERE digest = ? AND expires_at > ?",
                      (_digest(cookie), now())).fetchone()
    return _user(_user_row(con, "u.id = ?", row["user_id"])) if row else None


def user_from_token(con, data: DataDir, token: str) -> User | None:
    """The user of an API token, or None for a malformed, unknown, removed or wrong one."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    row = con.execute("SELECT user_id, secret_hash FROM tokens WHERE id = ?",
                      (match.group(1),)).fetchone()
    if row is None:
        return None
    stored, secret = row["secret_hash"], match.group(2)
    if stored.startswith("hmac-sha256$"):
        if not hmac.compare_digest(stored, hash_token(data, secret)):
            return None
    elif verify_secret(secret, stored):  # made before the HMAC: rehash it, once
        with transaction(con):
            con.execute("UPDATE tokens SET secret_hash = ? WHERE id = ?",
                        (hash_token(data, secret), match.group(1)))
    else:
        return None
    return _user(_user_row(con, "u.id = ?", row["user_id"]))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _user_row(con, where: str, value: str):
    """A user who is not disabled."""
    return con.execute("SELECT u.id, u.name, u.team_id, u.password_hash, t.name AS team FROM "
                       f"users u JOIN teams t ON t.id = u.team_id WHERE {where} AND "
                       "u.disabled = 0", (value,)).fetchone()


def _user(row) -> User | None:
    return User(row["id"], row["name"], row["team_id"], row["team"]) if row else None
