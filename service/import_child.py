"""A crew's returned package imported in a child process with CPU-time and memory limits.

Reading a returned package runs SQLite, GDAL and unzip on a file from outside;
:mod:`poppyscan.user_files` bounds each, and this child bounds them all
together (``RLIMIT_CPU``, ``RLIMIT_AS`` and a wall-clock timeout), so a hostile
file costs the web process nothing. The registry's writes are SQLite
transactions: a child stopped midway leaves it as it was. Answers name the
file as the client sent it, never the server's path or the team's id.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

from fastapi import HTTPException

from poppyscan.service.intake_child import child_env
from poppyscan.service.store import DataDir, ServiceSettings, public_text

__all__ = ["run_import"]


def run_import(registry: Path, path: Path, client_name: str,
               settings: ServiceSettings) -> list[dict]:
    """The import summaries of ``path`` into ``registry``; HTTPException 422 when refused."""
    shown = re.sub(r"[^A-Za-z0-9_.-]+", "_", re.split(r"[\\/]", client_name)[-1])[:80] or "file"
    args = [sys.executable, "-m", __name__, str(registry), str(path), shown,
            str(settings.returns_cpu_s), str(settings.returns_memory_bytes)]
    wall_s = 2 * settings.returns_cpu_s + 30
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=wall_s,
                              env=child_env())
    except subprocess.TimeoutExpired:
        raise HTTPException(422, f"{shown}: reading it took more than {wall_s} s; "
                                 "nothing was imported") from None
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    if answer is None:
        raise HTTPException(422, f"{shown}: reading it went past the limits of "
                                 f"{settings.returns_cpu_s} CPU seconds and "
                                 f"{settings.returns_memory_bytes >> 20:,} MiB of memory; "
                                 "nothing was imported")
    if "error" in answer:
        raise HTTPException(422, answer["error"])
    return answer["summaries"]


def _main(registry: Path, path: Path, shown: str) -> dict:
    from poppyscan.errors import PoppyscanError
    from poppyscan.field.registry import import_verdicts

    data = DataDir(registry.parents[2])  # DIR/teams/<team id>/registry.gpkg

    def scrub(text: str) -> str:
        return public_text(data, str(text).replace(str(path), shown))

    try:
        summaries = import_verdicts(registry, [path])
    except PoppyscanError as err:
        return {"error": scrub(str(err))}
    except MemoryError:
        return {"error": f"{shown}: reading it needs more memory than an import may use"}
    return {"summaries": [
        {"format": s.format, "applied": s.applied, "skipped": s.skipped,
         "flagged": [[scrub(part) for part in f] for f in s.flagged], "already": s.already}
        for s in summaries]}


if __name__ == "__main__":
    _cpu_s, _memory = int(sys.argv[4]), int(sys.argv[5])
    resource.setrlimit(resource.RLIMIT_CPU, (_cpu_s, _cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_AS, (_memory, _memory))
    print(json.dumps(_main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])))
