"""Open a .qgz with QGIS's own Python bindings and print what a QField user would get, as JSON.

Run by the system Python that has ``python3-qgis`` (``/usr/bin/python3``), with
``QT_QPA_PLATFORM=offscreen``; it imports nothing from poppyscan.
Usage: ``python3 qgis_check.py PROJECT.qgz``.
"""

import json
import sys

from qgis.core import QgsApplication, QgsProject, QgsVectorLayer


def main(project_path: str) -> dict:
    project = QgsProject.instance()
    if not project.read(project_path):
        return {"read": False, "error": project.error()}
    out = {"read": True, "crs": project.crs().authid(), "layers": {}}
    for layer in project.mapLayers().values():
        info = {"valid": layer.isValid(), "type": layer.type().name if hasattr(layer.type(), "name")
                else int(layer.type()), "source": layer.source()}
        if isinstance(layer, QgsVectorLayer):
            fields = layer.fields()
            info["features"] = layer.featureCount()
            info["renderer"] = layer.renderer().type() if layer.renderer() else None
            if layer.renderer() and layer.renderer().type() == "categorizedSymbol":
                info["categories"] = {c.value(): c.symbol().color().name()
                                      for c in layer.renderer().categories()}
            widgets, editable = {}, {}
            for i in range(fields.count()):
                setup = layer.editorWidgetSetup(i)
                widgets[fields[i].name()] = {"type": setup.type(), "config": setup.config()}
                editable[fields[i].name()] = layer.editFormConfig().readOnly(i) is False
            info["widgets"] = widgets
            info["editable"] = editable
            index = fields.indexOf("visited_at")
            info["default_visited_at"] = (layer.defaultValueDefinition(index).expression()
                                          if index >= 0 else None)
        else:
            info["bands"] = layer.bandCount()
        out["layers"][layer.name()] = info
    return out


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    try:
        print(json.dumps(main(sys.argv[1]), default=str))
    finally:
        app.exitQgis()
