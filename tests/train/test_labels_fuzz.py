"""Label importers under mutated input: every file parses or raises a PoppyscanError.

Seeded: each format gets the same few hundred mutations of a valid file on
every run (deleted keys and lines, changed types, numbers swapped for strings,
NaN/inf, huge values, truncation, random bytes). A file that parses must still
give sane labels: non-empty class names, finite polygons with area.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely

from poppyscan.errors import PoppyscanError
from poppyscan.train.labels import read_labels
from tests.train.label_chips import make_chip

MUTATIONS_PER_FORMAT = 250

# Values a mutation puts where something else belongs.
ODD_VALUES = [None, True, False, "", "Tree", "12", "nan", "-inf", 0, -1, -5.5, 1e308, 1e-320,
              float("nan"), float("inf"), float("-inf"), 10**30, [], {}, [1, 2], ["Tree"],
              {"a": 1}, "x" * 200, "\u00e9\u6f22", "../../etc/passwd", "1e999"]
ODD_TOKENS = ["nan", "inf", "-inf", "-1", "0", "1e308", "1e999", "abc", "", "1.5", "999999999999",
              "0x10", "\u00e9", "<", "&amp;", ",", "\"", "-0", "1e-320", "Tree"]

LONLAT = [(100.4386, 20.7863), (100.43885, 20.7863), (100.43885, 20.78655), (100.4386, 20.78655)]


def _square(x0: float, y0: float, size: float) -> list[list[float]]:
    return [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]


BASES: dict[str, tuple[str, object]] = {
    "coco": ("labels.json", {
        "images": [{"id": 1, "file_name": "chip.tif", "width": 64, "height": 64}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 5, 17, 12.5]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [30, 40, 10, 10],
             "segmentation": [[30, 40, 40, 40, 40, 50, 30, 50]]},
        ],
        "categories": [{"id": 1, "name": "poppy"}, {"id": 2, "name": "other"}],
    }),
    "labelstudio": ("tasks.json", [{
        "id": 7, "data": {"image": "/data/local-files/?d=chip.tif"},
        "annotations": [{"id": 1, "result": [
            {"id": "r1", "type": "rectanglelabels", "original_width": 64, "original_height": 64,
             "value": {"x": 5, "y": 10, "width": 20, "height": 30, "rotation": 0,
                       "rectanglelabels": ["poppy"]}},
            {"id": "r2", "type": "polygonlabels",
             "value": {"points": [[50, 50], [70, 50], [70, 70]], "polygonlabels": ["other"]}},
            {"id": "r3", "type": "rectangle",
             "value": {"x": 60, "y": 60, "width": 10, "height": 10, "rotation": 30}},
            {"id": "r3", "type": "labels", "value": {"labels": ["poppy"]}},
        ]}],
    }]),
    "geojson": ("plots.geojson", {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"label": "poppy"},
             "geometry": {"type": "Polygon", "coordinates": [[*map(list, LONLAT), list(LONLAT[0])]]}},
            {"type": "Feature", "properties": {"label": "other"},
             "geometry": {"type": "MultiPolygon",
                          "coordinates": [[_square(100.4390, 20.7860, 0.0001)]]}},
        ],
    }),
    "geojson_utm": ("plots_utm.geojson", {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32647"}},
        "features": [
            {"type": "Feature", "properties": {"label": "poppy"},
             "geometry": {"type": "Polygon", "coordinates": [_square(652_000.5, 2_299_998, 1.5)]}},
        ],
    }),
    "yolo": ("chip.txt", "0 0.2 0.3 0.1 0.15\n1 0.5 0.5 0.2 0.2 0.9\n0 0.1 0.1 0.3 0.1 0.3 0.3\n"),
    "voc": ("chip.xml", """<annotation>
  <filename>chip.tif</filename>
  <size><width>64</width><height>64</height><depth>3</depth></size>
  <object><name>poppy</name><bndbox><xmin>3</xmin><ymin>5</ymin><xmax>20</xmax><ymax>17.5</ymax></bndbox></object>
  <object><name>other</name><bndbox><xmin>30</xmin><ymin>40</ymin><xmax>60</xmax><ymax>63</ymax></bndbox></object>
</annotation>
"""),
    "deepforest": ("boxes.csv", "image_path,xmin,ymin,xmax,ymax,label\n"
                   "chip.tif,3,5,20,17.5,poppy\nchip.tif,30,40,60,63,other\nchip.tif,0,0,0,0,\n"),
}
# Format passed to read_labels for each base.
FORMATS = {"coco": "coco", "labelstudio": "labelstudio", "geojson": "ogr", "geojson_utm": "ogr",
           "yolo": "yolo", "voc": "voc", "deepforest": "deepforest"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz")
    make_chip(out / "chip.tif")
    (out / "classes.txt").write_text("poppy\nother\n")
    return out


# --- mutations -------------------------------------------------------------------------------


def _slots(node, found: list) -> list:
    """Every (container, key) pair of a JSON-like tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        found.append((node, key))
        _slots(value, found)
    return found


def mutate_tree(data, rng: random.Random):
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        slots = _slots(data, [])
        if not slots:
            return rng.choice(ODD_VALUES)
        container, key = rng.choice(slots)
        value = container[key]
        op = rng.randrange(6)
        if op == 0:
            del container[key]
        elif op == 1:
            container[key] = rng.choice(ODD_VALUES)
        elif op == 2 and isinstance(value, (int, float)) and not isinstance(value, bool):
            container[key] = str(value)  # a number as a string
        elif op == 3 and isinstance(value, list) and value:
            container[key] = value[0]  # a list collapsed to its first item
        elif op == 4 and isinstance(value, str):
            container[key] = [value] if rng.random() < 0.5 else value[:1]
        else:
            container[key] = rng.choice([value * 1000 if isinstance(value, (int, float)) else value,
                                         -value if isinstance(value, (int, float)) else None,
                                         [value, value], {"value": value}])
    return data


def mutate_text(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        if op == 0:  # swap a token
            tokens = re.split(r"([\s,<>]+)", text)
            words = [i for i, t in enumerate(tokens) if t and not re.fullmatch(r"[\s,<>]+", t)]
            if words:
                tokens[rng.choice(words)] = rng.choice(ODD_TOKENS)
            text = "".join(tokens)
        elif op == 1:  # drop or repeat a line
            lines = text.splitlines(keepends=True)
            if lines:
                i = rng.randrange(len(lines))
                lines[i:i + 1] = [] if rng.random() < 0.5 else [lines[i]] * 2
            text = "".join(lines)
        elif op == 2:  # truncate
            text = text[: rng.randrange(len(text) + 1)]
        elif op == 3:  # delete a span
            i = rng.randrange(len(text) + 1)
            text = text[:i] + text[i + rng.randint(1, 12):]
        else:  # numbers scaled out of range
            text = re.sub(r"\d+(\.\d+)?", lambda m: rng.choice([m.group(0), "-" + m.group(0),
                                                                  m.group(0) + "e300", "0"]), text)
    return text


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if buf and rng.random() < 0.6:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        else:
            buf[rng.randrange(len(buf) + 1):0] = bytes(rng.randrange(256) for _ in range(4))
    return bytes(buf)


def mutated(base, rng: random.Random) -> bytes:
    """One mutation of ``base`` (a JSON-like tree or text) as file bytes."""
    if isinstance(base, str):
        text = mutate_text(base, rng)
    else:
        text = json.dumps(mutate_tree(base, rng))
        if rng.random() < 0.2:
            text = mutate_text(text, rng)
    data = text.encode("utf-8")
    return mutate_bytes(data, rng) if rng.random() < 0.15 else data


# --- outcome ---------------------------------------------------------------------------------


def outcome(read: Callable) -> str:
    """``parsed``, ``refused`` (a PoppyscanError), or what went wrong."""
    try:
        labels = read()
    except PoppyscanError as err:
        assert "\n" not in str(err).strip(), str(err)
        return "refused"
    except Exception as err:  # the failures this test counts
        return f"traceback: {type(err).__name__}: {str(err)[:120]}"
    if not all(isinstance(c, str) and c.strip() for c in labels.classes):
        return f"silent: class names {sorted(set(labels.classes))}"
    coords = shapely.get_coordinates(labels.geometries)
    if not np.isfinite(coords).all() or (len(labels) and shapely.area(labels.geometries).min() <= 0):
        return "silent: non-finite or empty polygons"
    return "parsed"


def fuzz(folder: Path, name: str, n: int = MUTATIONS_PER_FORMAT) -> dict[str, int]:
    file_name, base = BASES[name]
    rng = random.Random(f"labels-fuzz-{name}")
    path = folder / file_name
    counts: dict[str, int] = {}
    for _ in range(n):
        path.write_bytes(mutated(base, rng))
        result = outcome(lambda: read_labels(path, format=FORMATS[name], default_class=None))
        counts[result] = counts.get(result, 0) + 1
    return counts


def test_unmutated_bases_parse(folder):
    for name, (file_name, base) in BASES.items():
        path = folder / file_name
        path.write_text(base if isinstance(base, str) else json.dumps(base))
        labels = read_labels(path, format=FORMATS[name])
        assert len(labels) >= 1 and set(labels.classes) <= {"poppy", "other"}, name
        assert math.isfinite(shapely.area(labels.geometries).sum())


@pytest.mark.parametrize("name", BASES)
def test_mutated_labels_parse_or_raise_one_line(folder, name):
    counts = fuzz(folder, name)
    bad = {k: v for k, v in counts.items() if k not in ("parsed", "refused")}
    assert not bad, bad
    assert counts.get("refused", 0) > MUTATIONS_PER_FORMAT // 10  # the mutations do bite
