"""Field packages: what a crew copies to a phone, from the mission registry.

:func:`write_field_package` writes a QGIS/QField project with an editable
GeoPackage, offline imagery, GPX, KMZ and a printable list; crews' verdicts come
back through :func:`poppyscan.field.registry.import_verdicts`.
"""

from poppyscan.field.package import FieldPackage, with_crews, write_field_package
from poppyscan.field.selection import PRIORITIES, FieldTarget, select_targets

__all__ = ["FieldPackage", "FieldTarget", "PRIORITIES", "select_targets", "with_crews",
           "write_field_package"]
