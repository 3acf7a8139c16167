"""Jobs name their files through job_files: deleting a file a job needs is refused exactly."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from poppyscan.service import records
from poppyscan.service.store import DataDir, connect


def test_a_file_a_queued_job_needs_is_kept_until_the_job_is_cancelled(service, survey):
    mission_id = service.mission("ann")
    used = service.upload("ann", mission_id, survey.read_bytes(), name="a.tif")
    spare = service.upload("ann", mission_id, survey.read_bytes(), name="b.tif")
    job = service.client.post(f"/api/missions/{mission_id}/jobs", json={"file_ids": [used["id"]]},
                              headers=service.auth("ann")).json()
    with closing(connect(service.data)) as con:
        assert records.job_file_ids(con, job["id"]) == [used["id"]]
        assert records.active_jobs_using(con, used["id"]) == [job["id"]]
        assert records.active_jobs_using(con, spare["id"]) == []
    delete = f"/api/uploads/{used['id']}"
    headers = service.auth("ann", **{"Tus-Resumable": "1.0.0"})
    assert service.client.delete(delete, headers=headers).status_code == 409
    assert service.client.delete(f"/api/uploads/{spare['id']}", headers=headers).status_code == 204
    service.client.post(f"/api/jobs/{job['id']}/cancel", headers=service.auth("ann"))
    assert service.client.delete(delete, headers=headers).status_code == 204


def test_jobs_of_an_older_data_folder_are_linked_from_their_json_list(tmp_path):
    data = DataDir(tmp_path / "data").create()
    with closing(connect(data)) as con:  # as a service before job_files wrote it
        con.execute("INSERT INTO teams VALUES ('t', 'north')")
        con.execute("INSERT INTO missions VALUES ('m', 't', 'M1', 0)")
        con.execute("INSERT INTO jobs (id, team_id, mission_id, file_ids, state, stage, "
                    "created_at) VALUES ('j', 't', 'm', ?, 'queued', 'queued', 0)",
                    (json.dumps(["f2", "f1"]),))
        con.execute("DELETE FROM job_files")
        con.commit()
    data.create()  # the next start links them
    with closing(sqlite3.connect(data.db)) as con:
        con.row_factory = sqlite3.Row
        assert records.job_file_ids(con, "j") == ["f2", "f1"]
        assert records.active_jobs_using(con, "f1") == ["j"]
