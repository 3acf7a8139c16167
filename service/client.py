"""The terminal's way in: ``poppyscan upload`` talks to a running service over its HTTP API.

Uploads use tus with a local note of each unfinished upload's URL
(``$POPPYSCAN_CACHE/uploads.json``), so running the same command again after
a dropped connection or a Ctrl-C resumes at the offset the server reports.
Outputs are downloaded into a staging folder and published with
:class:`~poppyscan.output_folder.OutputFolder`, ``run.json`` last, as
``poppyscan detect --out`` publishes them.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path, PurePosixPath

import httpx

from poppyscan.errors import ConfigError, OutputError, PoppyscanError

__all__ = ["ServiceClient", "ServiceError"]

TUS = {"Tus-Resumable": "1.0.0"}


class ServiceError(PoppyscanError, RuntimeError):
    """The service refused a request or a job failed: the message says what it answered."""


class ServiceClient:
    """A session with one service, authenticated by an API token."""

    def __init__(self, server: str, token: str, *, timeout_s: float = 120.0) -> None:
        self.server = server.rstrip("/")
        self.http = httpx.Client(base_url=self.server, timeout=timeout_s,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One request; a refused token, a network failure or an error answer is one clear error."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ServiceError(f"{self.server}: cannot reach the service ({err})") from None
        if response.status_code == 401:
            raise ServiceError(f"{self.server}: the service refused the token; check --token "
                               "(`poppyscan users add` prints one)")
        if response.status_code >= 400:
            raise ServiceError(f"{self.server}{path}: {response.status_code} {_detail(response)}")
        return response

    def whoami(self) -> dict:
        return self.request("GET", "/api/me").json()

    def mission(self, name: str) -> dict:
        """The team's mission ``name``, created when new."""
        for mission in self.request("GET", "/api/missions").json():
            if mission["name"] == name:
                return mission
        return self.request("POST", "/api/missions", json={"name": name}).json()

    def upload(self, path: Path, mission_id: str, *, chunk_bytes: int = 16 << 20,
               progress=None) -> str:
        """Upload ``path`` into the mission (resuming an earlier try); the file id."""
        size = path.stat().st_size
        notes = _Notes()
        key = f"{self.server}|{path.resolve()}|{size}|{path.stat().st_mtime_ns}|{mission_id}"
        url, offset = notes.get(key), 0
        if url is not None:
            head = self.http.head(url, headers=TUS)
            url, offset = (url, int(head.headers["upload-offset"])) if head.status_code == 200 \
                else (None, 0)
        if url is None:
            meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                            for k, v in (("filename", path.name), ("mission", mission_id)))
            created = self.request("POST", "/api/uploads", headers={
                **TUS, "Upload-Length": str(size), "Upload-Metadata": meta})
            url = created.headers["location"]
            notes.set(key, url)
        if progress is not None:
            progress.start(size)
            progress.advance(offset)
        with open(path, "rb") as handle:
            handle.seek(offset)
            while offset < size:
                chunk = handle.read(chunk_bytes)
                answer = self.request("PATCH", url, content=chunk, headers={
                    **TUS, "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream"})
                offset = int(answer.headers["upload-offset"])
                handle.seek(offset)
                if progress is not None:
                    progress.advance(len(chunk))
        notes.set(key, None)
        return url.rsplit("/", 1)[1]

    def wait_file(self, file_id: str, *, poll_s: float = 0.5) -> dict:
        """Wait until the server has checked an uploaded file; an error if it refused it."""
        while True:
            row = self.request("GET", f"/api/files/{file_id}").json()
            if row["state"] == "rejected":
                raise ServiceError(f"{self.server}: refused {row['name']}: {row['error']}")
            if row["state"] == "ready":
                return row
            time.sleep(poll_s)

    def start_job(self, mission_id: str, file_ids: list[str]) -> dict:
        return self.request("POST", f"/api/missions/{mission_id}/jobs",
                            json={"file_ids": file_ids}).json()

    def wait_job(self, job_id: str, *, progress=None, poll_s: float = 1.0) -> dict:
        """Poll the job until it ends, reporting chips done; an error unless it is done."""
        started, shown = False, 0
        while True:
            job = self.request("GET", f"/api/jobs/{job_id}").json()
            if progress is not None and job["chips_total"]:
                if not started:
                    progress.start(job["chips_total"])
                    started = True
                if job["chips_done"] > shown:
                    progress.advance(job["chips_done"] - shown, note=job["stage"])
                    shown = job["chips_done"]
            if job["state"] == "done":
                return job
            if job["state"] in ("failed", "cancelled"):
                raise ServiceError(f"{self.server}: job {job_id} {job['state']}"
                                   + (f": {job['error']}" if job["error"] else ""))
            time.sleep(poll_s)

    def download_outputs(self, job_id: str, out_dir: Path, *, overwrite: bool = False) -> list[str]:
        """The job's run folder into ``out_dir``, published as ``poppyscan detect`` publishes it."""
        from poppyscan.detect.run import MANIFEST, OUTPUTS
        from poppyscan.output_folder import OutputFolder, verify_outputs

        folder = OutputFolder(out_dir, OUTPUTS, manifest=MANIFEST)
        files = self.request("GET", f"/api/jobs/{job_id}/outputs").json()["files"]
        paths = [_safe_relative(f["path"]) for f in files]
        with folder.open(min_free_bytes=sum(f["bytes"] for f in files) + (64 << 20)):
            if folder.has_outputs() and not overwrite:
                raise ConfigError(f"{out_dir}: already holds {', '.join(folder.has_outputs())}; "
                                  "pass --overwrite to replace")
            staging = folder.staging()
            for rel in paths:
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with self.http.stream("GET", f"/api/jobs/{job_id}/outputs/{rel}") as answer:
                    if answer.status_code != 200:
                        raise ServiceError(f"{self.server}: download of {rel} failed "
                                           f"({answer.status_code})")
                    with open(target, "wb") as out:
                        for block in answer.iter_bytes(1 << 20):
                            out.write(block)
            folder.publish(staging)
        problems = verify_outputs(out_dir)
        if problems:
            raise OutputError(f"downloaded outputs do not match run.json: {problems[0]}")
        return [str(p) for p in paths]


def _safe_relative(path: str) -> PurePosixPath:
    """A path the server listed, refused unless it stays inside the output folder."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or ".." in rel.parts or rel.parts[0] == ".poppyscan":
        raise ServiceError(f"the service listed an output outside the folder: {path!r}")
    return rel


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text[:200]


class _Notes:
    """Unfinished uploads' URLs, by file and server, in poppyscan's cache folder."""

    def __init__(self) -> None:
        cache = Path(os.environ.get("POPPYSCAN_CACHE", Path.home() / ".cache" / "poppyscan"))
        self.path = cache / "uploads.json"

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def set(self, key: str, url: str | None) -> None:
        notes = self._read()
        if url is None:
            notes.pop(key, None)
        else:
            notes[key] = url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(notes, indent=1))
        tmp.replace(self.path)

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
