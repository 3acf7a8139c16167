"""Finding 5 of issue 29 for label files: a GeoPackage of views and an endless CSV are refused."""

from __future__ import annotations

import pytest

from poppyscan.errors import LabelError
from poppyscan.train.labels import read_labels
from tests.field.test_hostile_verdicts import hostile_gpkg


@pytest.mark.parametrize("variant", ["contents view", "table view"])
def test_a_label_geopackage_of_views_is_refused_before_gdal_reads_it(tmp_path, variant):
    path = hostile_gpkg(tmp_path / "labels.gpkg", variant)
    if variant == "table view":  # as a feature table, which is what labels read
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("UPDATE gpkg_contents SET data_type = 'features'")
        con.commit()
        con.close()
    with pytest.raises(LabelError) as err:
        read_labels(path, format="ogr")
    name = "gpkg_contents" if variant == "contents view" else "'verdicts'"
    assert str(err.value).startswith(f"{path}: ") and f"{name} is a view" in str(err.value)


def test_a_deepforest_csv_is_capped_in_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("poppyscan.train.labels.deepforest.MAX_ROWS", 1000)
    path = tmp_path / "boxes.csv"
    path.write_text("image_path,xmin,ymin,xmax,ymax,label\n" + "a.tif,1,1,5,5,poppy\n" * 1001)
    with pytest.raises(LabelError, match=r"boxes.csv: more than 1,000 rows; split the file"):
        read_labels(path, format="deepforest")
