"""Findings 6 and 8 of issue 29: users can be disabled, removed and re-tokened at once; log-ins
and tokens cost no unbounded scrypt."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys

import pytest

from poppyscan.service import auth
from poppyscan.service.accounts import list_users, remove_user, rotate_token, set_disabled


def _me(service, token: str) -> int:
    return service.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_deleted_by_hand_is_refused_at_the_next_request(service):
    """Issue: a token whose row was deleted stayed valid until restart (in-memory cache)."""
    token = service.secrets["ann"][1]
    assert _me(service, token) == 200 and _me(service, token) == 200
    db = sqlite3.connect(service.data.db)
    db.execute("DELETE FROM tokens WHERE id = ?", (token.split("_")[1],))
    db.commit()
    db.close()
    assert _me(service, token) == 401


def test_disable_enable_remove_and_rotate_take_effect_at_once(service):
    ann_token, bob_token = service.secrets["ann"][1], service.secrets["bob"][1]
    password = service.secrets["ann"][0]
    mission = service.mission("ann")
    login = service.client.post("/api/session", json={"name": "ann", "password": password})
    assert login.status_code == 204
    assert service.client.get("/api/me").status_code == 200  # by the session cookie

    set_disabled(service.data, "ann", True)
    assert _me(service, ann_token) == 401 and service.client.get("/api/me").status_code == 401
    again = service.client.post("/api/session", json={"name": "ann", "password": password})
    assert again.status_code == 401
    assert [(a.name, a.disabled) for a in list_users(service.data)] == [("ann", True),
                                                                         ("bob", False)]
    set_disabled(service.data, "ann", False)
    assert _me(service, ann_token) == 200

    new = rotate_token(service.data, "ann")
    assert _me(service, ann_token) == 401 and _me(service, new) == 200

    remove_user(service.data, "ann")
    assert _me(service, new) == 401 and _me(service, bob_token) == 200
    db = sqlite3.connect(service.data.db)
    assert db.execute("SELECT id FROM missions").fetchall() == [(mission,)]  # the team's work stays
    db.close()


def test_users_cli_answers_in_one_line(service):
    run = subprocess.run([sys.executable, "-m", "poppyscan", "users", "remove", "nobody", "--data",
                          str(service.data.root)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"Error: no user 'nobody' in {service.data.root}"]
    listed = subprocess.run([sys.executable, "-m", "poppyscan", "users", "list", "--data",
                             str(service.data.root)], capture_output=True, text=True, check=True)
    assert [line.split("\t")[:3] for line in listed.stdout.splitlines()] == [
        ["ann", "team north", "active"], ["bob", "team south", "active"]]


def test_tokens_are_checked_by_a_keyed_hash_not_scrypt(service, monkeypatch):
    """Issue: a real token id with a wrong secret ran a 16 MiB scrypt each time."""
    db = sqlite3.connect(service.data.db)
    stored = [r[0] for r in db.execute("SELECT secret_hash FROM tokens")]
    db.close()
    assert len(stored) == 2 and all(h.startswith("hmac-sha256$") for h in stored)
    token_id = service.secrets["ann"][1].split("_")[1]

    def no_scrypt(*args, **kwargs):
        raise AssertionError("scrypt ran for a token")

    monkeypatch.setattr(hashlib, "scrypt", no_scrypt)
    for _ in range(50):
        assert _me(service, f"pst_{token_id}_{'A' * 43}") == 401
    assert _me(service, service.secrets["ann"][1]) == 200


def test_a_token_made_before_the_keyed_hash_works_once_rehashed(service):
    token = service.secrets["ann"][1]
    _, token_id, secret = token.split("_", 2)
    db = sqlite3.connect(service.data.db)
    db.execute("UPDATE tokens SET secret_hash = ? WHERE id = ?", (auth.hash_secret(secret), token_id))
    db.commit()
    assert _me(service, token) == 200
    assert db.execute("SELECT secret_hash FROM tokens WHERE id = ?",
                      (token_id,)).fetchone()[0].startswith("hmac-sha256$")
    db.close()
    assert _me(service, token) == 200


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("names", ["same account", "many accounts, one address"])
def test_failed_log_ins_are_slowed(service, monkeypatch, names):
    """Issue: 200 wrong passwords in 15 s, then the right one: no delay or lockout."""
    from poppyscan.service.throttle import LoginThrottle

    clock = _Clock()
    service.app.state.throttle = LoginThrottle(clock=clock)
    hashes = []
    real = auth.verify_secret
    monkeypatch.setattr(auth, "verify_secret", lambda *a: hashes.append(1) or real(*a))
    codes = []
    for i in range(200):
        name = "ann" if names == "same account" else f"guess{i}"
        answer = service.client.post("/api/session", json={"name": name, "password": "wrong"})
        codes.append(answer.status_code)
    assert codes == [401] * 5 + [429] * 195 and len(hashes) == 5
    right = service.client.post("/api/session",
                                json={"name": "ann", "password": service.secrets["ann"][0]})
    assert right.status_code == 429 and right.headers["retry-after"] == "1"
    assert "too many failed log-ins" in right.json()["detail"]
    clock.now += 1.5
    right = service.client.post("/api/session",
                                json={"name": "ann", "password": service.secrets["ann"][0]})
    assert right.status_code == 204
