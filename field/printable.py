"""A printable list for crews without phones: one table per crew, boxes to tick, room to write."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.export._labels import lat_lon_text
from poppyscan.detect.targets import STATUSES
from poppyscan.field.selection import FieldTarget

__all__ = ["write_printable_list"]

_CSS = """
@page { size: A4 landscape; margin: 10mm; }
body { font: 10pt sans-serif; margin: 0; }
h1 { font-size: 13pt; margin: 0 0 2mm; } h2 { font-size: 11pt; margin: 4mm 0 1mm; }
p { margin: 0 0 2mm; }
table { border-collapse: collapse; width: 100%; page-break-inside: auto; }
th, td { border: 0.3mm solid #444; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
tr { page-break-inside: avoid; } th { background: #eee; }
.high { border-left: 3mm solid #e31a1c; } .medium { border-left: 3mm solid #ff7f00; }
.low { border-left: 3mm solid #ffd92f; }
.box { white-space: nowrap; } .write { width: 22%; }
"""
# Every verdict a crew can bring back (detect.targets.STATUSES but "pending").
_BOXES = " ".join(f"&#9744;&nbsp;{s.replace('_', '&nbsp;')}" for s in STATUSES if s != "pending")


def write_printable_list(targets: Sequence[FieldTarget], path: str | os.PathLike, *, title: str,
                         created_at: str) -> Path:
    """Write the HTML page (print it from any browser); ``title``: the mission(s)."""
    crews = sorted({t.crew for t in targets}) or [""]
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(targets)} target{'' if len(targets) == 1 else 's'}, made "
             f"{html.escape(created_at[:16].replace('T', ' '))} "
             "UTC. Coordinates WGS 84 (lat, lon). Tick one verdict, write the time and a note; "
             "photograph every plot.</p>"]
    for crew in crews:
        rows = sorted((t for t in targets if t.crew == crew), key=lambda t: (t.visit_order, t.rank))
        parts.append(f"<h2>{html.escape(crew or 'Walking order')}: {len(rows)} "
                     f"target{'' if len(rows) == 1 else 's'} in visit order</h2>")
        parts.append("<table><tr><th>Stop</th><th>Target</th><th>Lat, lon</th><th>Priority</th>"
                     "<th>Why</th><th>Verdict</th><th>Time</th>"
                     "<th class=\"write\">Note</th></tr>")
        parts += [_row(t) for t in rows]
        parts.append("</table>")
    parts.append("</body></html>\n")
    return atomic_write_text(path, "\n".join(parts))


def _row(t: FieldTarget) -> str:
    cells = [str(t.visit_order or t.rank), html.escape(t.target_id),
             ", ".join(lat_lon_text(t.lat, t.lon)), t.priority, html.escape(_why(t))]
    tds = "".join(f"<td>{c}</td>" for c in cells)
    return f"<tr class=\"{t.priority}\">{tds}<td class=\"box\">{_BOXES}</td><td></td><td></td></tr>"


def _why(t: FieldTarget) -> str:
    """Why it is on the list, at this priority: how sure, how big, and what raised it."""
    facts = [f"{round(t.conf * 100):d}% sure", f"{t.area_m2:.0f} m2"]
    if t.note:
        facts.append(t.note)  # replant, confirmed standing, disputed, could not reach
    if t.n_sightings > 1:
        facts.append(f"seen by {t.n_sightings} flights")
    return ", ".join(facts)
