"""Findings 5 and 7 of issue 29: a hostile returned package costs the web process nothing, and no
answer carries a server path or an internal id."""

from __future__ import annotations

import dataclasses

import pytest

from tests.field.test_hostile_verdicts import hostile_gpkg


def _put(service, ids, body: bytes, name: str):
    return service.client.put(f"/api/missions/{ids['mission_id']}/returns", content=body,
                              headers=service.auth("ann", **{"X-Filename": name}))


def _state(service, ids) -> tuple:
    """The registry as the team sees it, and the returned packages kept."""
    status = service.client.get(f"/api/missions/{ids['mission_id']}/registry",
                                headers=service.auth("ann")).json()
    kept = sorted(p.name for p in service.data.root.glob("teams/*/returns/*"))
    return status, kept


@pytest.mark.parametrize("variant", ["contents view", "table view"])
def test_a_hostile_geopackage_is_refused_quickly_and_nothing_changes(finished, tmp_path, variant):
    """Issue: PUT .../returns answered 500 after 59 s and 41 CPU-s of the web process."""
    service, ids = finished
    before = _state(service, ids)
    body = hostile_gpkg(tmp_path / "crew.gpkg", variant).read_bytes()
    answer = _put(service, ids, body, "crew.gpkg")
    assert answer.status_code == 422
    name = "gpkg_contents" if variant == "contents view" else "'verdicts'"
    assert answer.json()["detail"].startswith("crew.gpkg: ") and f"{name} is a view" in \
        answer.json()["detail"]
    assert _state(service, ids) == before


def test_an_import_over_its_limits_is_refused_and_changes_nothing(finished):
    service, ids = finished
    before = _state(service, ids)
    target_id = before[0]["targets"][0]["target_id"]
    settings = service.app.state.settings
    service.app.state.settings = dataclasses.replace(settings, returns_memory_bytes=32 << 20)
    try:
        answer = _put(service, ids, f"target_id,status\n{target_id},confirmed\n".encode(),
                      "crew.csv")
    finally:
        service.app.state.settings = settings
    assert answer.status_code == 422
    assert answer.json()["detail"] == ("crew.csv: reading it went past the limits of 120 CPU "
                                       "seconds and 32 MiB of memory; nothing was imported")
    assert _state(service, ids) == before


def test_flagged_rows_name_the_file_as_sent_not_the_servers_path(finished):
    """Issue: the flagged list carried the server's absolute data path and team id."""
    service, ids = finished
    answer = _put(service, ids, b"target_id,status\nNO-SUCH-9999,confirmed\n", "../x/crew 7.csv")
    assert answer.status_code == 200, answer.text
    flagged = answer.json()[0]["flagged"]
    assert flagged == [["NO-SUCH-9999", "no such target in the registry (crew_7.csv line 2)"]]
    team_id = next(service.data.root.glob("teams/*")).name
    for secret in (str(service.data.root), team_id, "/returns/"):
        assert secret not in answer.text
