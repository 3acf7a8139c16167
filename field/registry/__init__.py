"""The mission registry: every run, target, sighting and crew verdict of one operation area.

One GeoPackage per area (QGIS opens it; the schema could move to PostGIS as
is, see :mod:`.schema`). Runs go in with :func:`record_run`, crews' verdicts
with :func:`import_verdicts` (files) or :func:`record_verdicts` (records); :func:`registry_status` counts what is open, and
:func:`verdict_features` hands confirmed plots and false positives to training.
"""

from poppyscan.field.registry.evidence import EvidenceRule, VerdictFeatures, verdict_features
from poppyscan.field.registry.naming import name_run, record_and_name
from poppyscan.field.registry.record import RecordSummary, record_run
from poppyscan.field.registry.schema import SCHEMA, connect
from poppyscan.field.registry.state import OPEN_STATES, STATES
from poppyscan.field.registry.status import RegistryStatus, registry_status
from poppyscan.field.registry.verdicts import (
    ImportSummary,
    VerdictRow,
    import_verdicts,
    record_verdicts,
)

__all__ = [
    "EvidenceRule",
    "ImportSummary",
    "OPEN_STATES",
    "RecordSummary",
    "RegistryStatus",
    "SCHEMA",
    "STATES",
    "VerdictFeatures",
    "VerdictRow",
    "connect",
    "import_verdicts",
    "name_run",
    "record_and_name",
    "record_run",
    "record_verdicts",
    "registry_status",
    "verdict_features",
]
