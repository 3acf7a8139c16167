"""Render one layer of a .qgz offscreen with QGIS, as QField would draw it, to a PNG.

Run by the system Python that has ``python3-qgis`` (``/usr/bin/python3``), with
``QT_QPA_PLATFORM=offscreen``; it imports nothing from poppyscan. Prints the
rendered extent (project CRS) as JSON.
Usage: ``python3 qgis_render.py PROJECT.qgz LAYER_NAME OUT.png WIDTH_PX``.
"""

import json
import sys

from qgis.core import QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsProject
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage


def main(project_path: str, layer_name: str, png: str, width_px: int) -> dict:
    project = QgsProject.instance()
    if not project.read(project_path):
        return {"read": False, "error": project.error()}
    (layer,) = project.mapLayersByName(layer_name)
    extent = layer.extent()
    height_px = round(width_px * extent.height() / extent.width())
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(width_px, height_px))
    settings.setExtent(extent)
    settings.setBackgroundColor(QColor(0, 0, 0, 0))  # transparent: what lies under the layer
    settings.setOutputImageFormat(QImage.Format_ARGB32)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(png)
    shown = settings.visibleExtent()
    return {"read": True, "valid": layer.isValid(), "crs": project.crs().authid(),
            "extent": [shown.xMinimum(), shown.yMinimum(), shown.xMaximum(), shown.yMaximum()],
            "size": [width_px, height_px]}


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    try:
        print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    finally:
        app.exitQgis()
