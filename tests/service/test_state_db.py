"""Finding 3 of issue 29: a damaged state database is refused at start, answered 503 while
running, and `poppyscan backup` restores to a service that shows the same missions."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

from tests.service.conftest import Service


def _damage_last_page(db, *, table: str | None = None) -> None:
    """Overwrite the file's last page, or the root page of ``table`` (where its rows live)."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    at = os.path.getsize(db) - page
    if table is not None:
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        at = (root[0] - 1) * page
    con.close()
    with open(db, "r+b") as out:
        out.seek(at)
        out.write(b"\xa5" * page)


def test_serve_refuses_a_damaged_state_database_in_one_line(tmp_path, small_bundle):
    """Issue: the service started with its normal line on a damaged state.sqlite."""
    service = Service(tmp_path, small_bundle)
    for name in ("M1", "M2", "M3"):
        service.mission("ann", name)
    service.app.state.keeper.close()
    _damage_last_page(service.data.db)
    run = subprocess.run([sys.executable, "-m", "poppyscan", "serve", "--data",
                          str(service.data.root), "--port", "8799"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "serving" not in run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {service.data.db}: the state "
                                                    "database is damaged (")
    assert "restore the last backup" in lines[0]


def test_a_database_damaged_while_running_answers_503_not_500(tmp_path, small_bundle):
    """Issue: /api/me and missions answered 200/201 while files and jobs answered bare 500s."""
    service = Service(tmp_path, small_bundle)
    for name in ("M1", "M2", "M3"):
        service.mission("ann", name)
    service.app.state.keeper.close()
    _damage_last_page(service.data.db, table="missions")  # the page the requests read
    service.app.state.keeper = sqlite3.connect(":memory:")
    answers = [service.client.get("/api/missions", headers=service.auth("ann")),
               service.client.post("/api/missions", json={"name": "M4"},
                                   headers=service.auth("ann"))]
    answers.append(service.client.get("/api/me", headers=service.auth("ann")))  # its pages are
    for answer in answers:  # whole, but once damage is seen nothing reads or writes any more
        assert answer.status_code == 503, answer.text
        assert answer.json() == {"detail": "the service's state database cannot be used; the "
                                           "administrator must check it (poppyscan serve says how)"}


def test_the_running_service_looks_for_damage_and_stops_writing(tmp_path, small_bundle):
    """Issue: /api/me and POST /api/missions kept answering 200/201; new rows went into it."""
    from poppyscan.service.app import check_for_damage

    service = Service(tmp_path, small_bundle)
    for name in ("M1", "M2", "M3"):
        service.mission("ann", name)
    check_for_damage(service.app.state)
    assert service.app.state.damaged is None
    service.app.state.keeper.close()
    _damage_last_page(service.data.db, table="missions")  # the page the requests read
    service.app.state.keeper = sqlite3.connect(":memory:")
    check_for_damage(service.app.state)  # what the housekeeping thread runs every 5 minutes
    assert "the state database is damaged" in service.app.state.damaged
    size = service.data.db.stat().st_size
    for answer in (service.client.get("/api/me", headers=service.auth("ann")),
                   service.client.post("/api/missions", json={"name": "M4"},
                                       headers=service.auth("ann"))):
        assert answer.status_code == 503
    assert service.data.db.stat().st_size == size and not any(
        p.stat().st_size for p in service.data.root.glob("state.sqlite-wal"))


def test_backup_restores_to_a_service_with_the_same_missions(finished, tmp_path, small_bundle):
    service, ids = finished
    before = service.client.get("/api/missions", headers=service.auth("ann")).json()
    registry = service.client.get(f"/api/missions/{ids['mission_id']}/registry",
                                  headers=service.auth("ann")).json()
    out = tmp_path / "backup"
    run = subprocess.run([sys.executable, "-m", "poppyscan", "backup", "--data",
                          str(service.data.root), str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    team = before and service.client.get("/api/me", headers=service.auth("ann")).json()
    assert team and (out / "state.sqlite").is_file() and (out / "secret.key").is_file()
    assert len(list(out.glob("teams/*/registry.gpkg"))) == 1

    restored = tmp_path / "restored" / "data"  # the README's restore: backup, then files and jobs
    shutil.copytree(out, restored)
    for sub in ("files", "jobs"):
        shutil.copytree(service.data.root / sub, restored / sub)
    from fastapi.testclient import TestClient

    from poppyscan.service.app import create_app

    app = create_app(restored, model=small_bundle.path, settings=service.settings)
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/api/missions", headers=service.auth("ann")).json() == before
    assert client.get(f"/api/missions/{ids['mission_id']}/registry",
                      headers=service.auth("ann")).json() == registry
    again = subprocess.run([sys.executable, "-m", "poppyscan", "backup", "--data",
                            str(service.data.root), str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists already" in again.stderr
