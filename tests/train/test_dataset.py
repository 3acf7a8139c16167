"""Dataset builder: chips on the detection grid, clipped labels, spatially blocked splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from affine import Affine
from pyogrio.raw import read as ogr_read
from pyogrio.raw import write as ogr_write
from rasterio.features import geometry_mask

from poppyscan.errors import ConfigError
from poppyscan.tiles import ChipReader, GridSpec, cells_for, inspect_raster
from poppyscan.tiles.geometry import (
    pixel_box_to_polygon,
    pixel_boxes_to_polygons,
    reproject_geometry,
)
from poppyscan.train.dataset import build_dataset, chip_labels, load_summary
from poppyscan.train.labels import LabelSet, read_labels
from tests.data.rasters import UTM_47N
from tests.train.loop import GRID, synthetic_survey

ORIGIN = (652_003.37, 2_300_101.71)  # not on the 10 cm lattice


def write_rgba(path: Path, size_px, *, gsd_m=0.1, origin=ORIGIN, valid_cols=None, seed=0) -> Path:
    """Noise RGB with an alpha band; columns from ``valid_cols`` on are collar."""
    width, height = size_px
    rgb = np.random.default_rng(seed).integers(40, 200, (3, height, width), dtype="uint8")
    alpha = np.full((height, width), 255, dtype="uint8")
    if valid_cols is not None:
        alpha[:, valid_cols:] = 0
    profile = dict(driver="GTiff", width=width, height=height, count=4, dtype="uint8", crs=UTM_47N,
                   transform=Affine(gsd_m, 0, origin[0], 0, -gsd_m, origin[1]), photometric="RGB")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rgb, [1, 2, 3])
        dst.write(alpha, 4)
        dst.colorinterp = [*dst.colorinterp[:3], rasterio.enums.ColorInterp.alpha]
    return path


def boxes_to_labels(path: Path, boxes_px, cls: str = "poppy") -> LabelSet:
    """Label polygons from pixel boxes of the raster at ``path``."""
    with rasterio.open(path) as src:
        polys = pixel_boxes_to_polygons(src.transform, np.asarray(boxes_px, dtype=float))
    return LabelSet(polys, (cls,) * len(polys), UTM_47N, str(path))


def read_rows(txt: Path) -> np.ndarray:
    """YOLO rows (N, 5) of a label file; (0, 5) for a negative chip."""
    return np.array([line.split() for line in txt.read_text().splitlines()], float).reshape(-1, 5)


def read_index(ds: Path) -> dict:
    meta, _, wkb, data = ogr_read(str(ds / "chips.gpkg"))
    out = {name: np.asarray(values) for name, values in zip(meta["fields"], data, strict=True)}
    out["geometry"] = shapely.from_wkb(wkb)
    return out


def assert_no_ground_in_two_splits(index: dict) -> None:
    geoms, splits = index["geometry"], index["split"]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    cross = (splits[a] != splits[b]) & (a < b)
    shared = shapely.area(shapely.intersection(geoms[a[cross]], geoms[b[cross]]))
    assert np.all(shared < 1e-6), shared.max()


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return synthetic_survey(tmp_path_factory.mktemp("survey"))


@pytest.fixture(scope="module")
def survey_ds(survey, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "survey_ds"
    build_dataset([survey.ortho_path], survey.plots_path, out, grid=GRID, seed=0)
    return out


def test_no_chip_covers_ground_of_two_splits(survey_ds):
    index = read_index(survey_ds)
    summary = load_summary(survey_ds)
    assert set(index["split"]) == {"train", "val", "test"}
    assert len(set(index["chip_id"])) == len(index["chip_id"])
    assert_no_ground_in_two_splits(index)
    for split, counts in summary.splits.items():
        in_split = index["split"] == split
        assert counts["images"] == in_split.sum() == len(list((survey_ds / "images" / split).glob("*.png")))
        assert counts["images"] == len(list((survey_ds / "labels" / split).glob("*.txt")))
        assert counts["negative"] == (index["negative"][in_split]).sum()
    # Chips straddling two splits were cropped to their own split's ground, none dropped.
    assert summary.counts["chips_cropped_split"] == index["cropped"].sum() > 0
    assert summary.counts["chips_dropped_split"] == 0


def test_every_label_line_is_a_valid_box(survey_ds):
    index = read_index(survey_ds)
    n_lines = {}
    for txt in (survey_ds / "labels").rglob("*.txt"):
        rows = read_rows(txt)
        n_lines[txt.stem] = len(rows)
        assert np.all(rows[:, 0] == 0)
        assert np.all((rows[:, 1:] >= 0) & (rows[:, 1:] <= 1))
        assert np.all(rows[:, 3:] > 0)
        cx, cy, w, h = rows[:, 1:].T
        assert np.all(cx - w / 2 >= -1e-6) and np.all(cx + w / 2 <= 1 + 1e-6)
        assert np.all(cy - h / 2 >= -1e-6) and np.all(cy + h / 2 <= 1 + 1e-6)
    assert n_lines == dict(zip(index["chip_id"], index["n_labels"].tolist(), strict=True))


def test_chip_index_ties_each_chip_to_its_source_window(survey_ds, survey):
    index = read_index(survey_ds)
    with rasterio.open(survey.ortho_path) as src:
        for k in range(0, len(index["chip_id"]), 7):
            window = rasterio.windows.Window(index["win_col_off"][k], index["win_row_off"][k],
                                             index["win_width"][k], index["win_height"][k])
            assert (window.width, window.height) == (128, 128)  # same GSD: 1 source px per chip px
            data = src.read(window=window, boundless=True, fill_value=0)
            image = cv2.cvtColor(cv2.imread(str(survey_ds / index["file"][k])), cv2.COLOR_BGR2RGB)
            ground = index["geometry"][k]  # the footprint, cropped at a split edge
            own = geometry_mask([ground], (128, 128), src.window_transform(window), invert=True)
            valid = (data[3] > 0) & own
            assert np.array_equal(image[valid], np.moveaxis(data[:3], 0, -1)[valid])
            assert np.all(image[~valid] == 0)
            footprint = pixel_box_to_polygon(src.window_transform(window), 0, 0, 128, 128)
            if index["cropped"][k]:
                assert ground.area < footprint.area and footprint.contains(ground.buffer(-1e-6))
            else:
                assert shapely.equals_exact(footprint.normalize(), ground.normalize(), 1e-6)


def test_label_boxes_land_on_the_right_pixels(tmp_path):
    # 5 cm source resampled to the 10 cm grid, origin off the lattice, polygons not boxes.
    ortho = write_rgba(tmp_path / "fine.tif", (1024, 1024), gsd_m=0.05)
    rng = np.random.default_rng(4)
    with rasterio.open(ortho) as src:
        left, bottom, right, top = src.bounds
    polys = []
    for _ in range(40):
        cx, cy = rng.uniform(left + 3, right - 3), rng.uniform(bottom + 3, top - 3)
        r = rng.uniform(0.6, 2.5)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        polys.append(shapely.Polygon(np.c_[cx + r * np.cos(angles), cy + r * np.sin(angles)]))
    labels = LabelSet(np.array(polys, dtype=object), ("poppy",) * len(polys), UTM_47N, "test")
    out = tmp_path / "ds"
    summary = build_dataset([ortho], labels, out, grid=GRID, seed=1, negative_ratio=0.0)
    raster_box = shapely.box(left, bottom, right, top)
    index = read_index(out)
    ground = dict(zip(index["chip_id"], index["geometry"], strict=True))
    n_checked = 0
    for png in (out / "images").rglob("*.png"):
        with rasterio.open(png) as chip:  # georeferenced through the world file + .aux.xml
            transform = chip.transform
            assert chip.crs.to_epsg() == 32647
        rows = read_rows(out / "labels" / png.parent.name / f"{png.stem}.txt")
        cx, cy, w, h = (rows[:, 1:] * 128).T
        got = pixel_boxes_to_polygons(transform, np.c_[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        imagery = ground[png.stem].intersection(raster_box)
        want = [shapely.box(*p.intersection(imagery).bounds) for p in polys
                if p.intersection(imagery).area >= 0.4 * min(p.area, imagery.area)]
        assert len(got) == len(want)
        for box in got:  # each box matches one expected box within half a pixel (5 cm)
            assert min(shapely.hausdorff_distance(box, w_) for w_ in want) <= 0.05
            n_checked += 1
    assert n_checked == sum(sum(s["labels"].values()) for s in summary.splits.values()) > 20


def _clip_per_chip(ortho, grid: GridSpec, boxes_px: list) -> dict:
    """``chip_labels`` of every chip of ``ortho`` for labels from pixel boxes (class 0), by (row, col)."""
    info = inspect_raster(ortho)
    labels = boxes_to_labels(ortho, boxes_px)
    tree = shapely.STRtree(labels.geometries)
    classes = np.zeros(len(labels), dtype=int)
    with ChipReader(info, grid) as reader:
        return {(cell.row, cell.col): chip_labels(reader.read(cell), labels.geometries, classes,
                                                  tree, min_visible_frac=0.4)
                for cell in cells_for(info, grid)}


def test_sliver_of_a_label_grazing_a_chip_is_dropped(tmp_path):
    ortho = write_rgba(tmp_path / "o.tif", (256, 256))
    # 6 of its 20 px lie in chip (0, 0): a sliver there; 14 px in chip (0, 1): kept.
    found = _clip_per_chip(ortho, GridSpec(0.1, 128, 0), [[122, 10, 142, 30]])
    left, right = found[0, 0], found[0, 1]
    assert (left.touched, left.slivers, len(left.boxes)) == (1, 1, 0)
    assert (right.touched, right.slivers) == (1, 0)
    np.testing.assert_allclose(right.boxes, [[0, 7 / 128, 20 / 128, 14 / 128, 20 / 128]], atol=1e-9)


def test_label_larger_than_a_chip_is_kept_where_it_fills_the_chip(tmp_path):
    ortho = write_rgba(tmp_path / "o.tif", (256, 256))
    # 156 x 256 px: bigger than a chip
    found = _clip_per_chip(ortho, GridSpec(0.1, 128, 0), [[100, 0, 256, 256]])
    filled, edge = found[0, 1], found[0, 0]
    np.testing.assert_allclose(filled.boxes, [[0, 0.5, 0.5, 1.0, 1.0]], atol=1e-9)
    assert edge.slivers == 1 and not edge.positive  # 28 of 128 columns: a sliver


def test_label_is_clipped_to_the_valid_area_and_collar_labels_are_slivers(tmp_path):
    ortho = write_rgba(tmp_path / "o.tif", (256, 256), valid_cols=128)  # right half is collar
    found = _clip_per_chip(ortho, GridSpec(0.1, 256, 0), [[100, 40, 160, 80], [180, 40, 220, 80]])
    only = found[0, 0]
    assert (only.touched, only.slivers, only.label_ids) == (2, 1, [0])
    np.testing.assert_allclose(only.boxes, [[0, 114 / 256, 60 / 256, 28 / 256, 40 / 256]],
                               atol=1e-9)


def test_negatives_follow_the_ratio_and_avoid_the_collar(tmp_path):
    # 8 x 4 chips; columns 0-2 valid, column 3 half collar, columns 4-7 all collar.
    ortho = write_rgba(tmp_path / "o.tif", (1024, 512), valid_cols=448)
    grid = GridSpec(0.1, 128, 0)
    boxes = [[c * 128 + 40, r * 128 + 40, c * 128 + 80, r * 128 + 80]
             for r in range(4) for c in range(3) if (r + c) % 2 == 0]
    labels = boxes_to_labels(ortho, boxes)
    out = tmp_path / "ds"
    summary = build_dataset([ortho], labels, out, grid=grid, negative_ratio=0.5, block_m=25.6,
                            val_frac=0.25, test_frac=0.25, seed=2, min_valid_frac=0.6)
    index = read_index(out)
    assert np.all(index["valid_frac"] >= 0.6)
    assert not np.any(index["col"] >= 3)  # half-collar and collar chips never become chips
    for counts in summary.splits.values():
        assert counts["negative"] == round(0.5 * counts["positive"])
    assert sum(c["positive"] for c in summary.splits.values()) == len(boxes)
    assert_no_ground_in_two_splits(index)
    again = build_dataset([ortho], labels, tmp_path / "ds2", grid=grid, negative_ratio=0.5,
                          block_m=25.6, val_frac=0.25, test_frac=0.25, seed=2, min_valid_frac=0.6)
    assert again.splits == summary.splits
    assert list(read_index(tmp_path / "ds2")["chip_id"]) == list(index["chip_id"])


def test_every_label_free_chip_meeting_a_hard_negative_is_kept(tmp_path):
    # 4 x 2 chips, no overlap; labels in chips (0, 0) and (1, 1) only.
    ortho = write_rgba(tmp_path / "o.tif", (512, 256))
    grid = GridSpec(0.1, 128, 0)
    labels = boxes_to_labels(ortho, [[40, 40, 80, 80], [168, 168, 208, 208]])
    with rasterio.open(ortho) as src:
        to_map = src.transform
    hard_px = {(0, 2): [300, 50, 330, 90],  # a false target in a label-free chip
               (1, 3): [420, 200, 421, 201],  # a waypoint (point, below)
               (0, 0): [70, 70, 100, 100]}  # touches a label: that place holds a plot
    geoms = [pixel_box_to_polygon(to_map, *box) for box in hard_px.values()]
    geoms[1] = geoms[1].centroid
    lonlat = [reproject_geometry(g, UTM_47N, "EPSG:4326") for g in geoms]
    hard_path = tmp_path / "verdicts.geojson"
    ogr_write(str(hard_path), shapely.to_wkb(lonlat), [], [], geometry_type="Unknown",
              crs="EPSG:4326", driver="GeoJSON")
    # A second, distant orthomosaic with one label gives the other split its chips.
    other = write_rgba(tmp_path / "v.tif", (128, 128), origin=(ORIGIN[0] + 500, ORIGIN[1]), seed=4)
    labels = LabelSet.concat([labels, boxes_to_labels(other, [[40, 40, 80, 80]])])
    out = tmp_path / "ds"
    summary = build_dataset([ortho, other], labels, out, grid=grid, negative_ratio=0, split="ortho",
                            val_frac=0.3, test_frac=0, hard_negatives=[hard_path])
    index = read_index(out)
    negatives = {(int(r), int(c)) for r, c, n in zip(index["row"], index["col"], index["negative"],
                                                      strict=True) if n}
    assert negatives == {(0, 2), (1, 3)}
    assert sum(c["positive"] for c in summary.splits.values()) == 3
    assert sum(c["negative"] for c in summary.splits.values()) == 2
    assert {k: summary.counts[k] for k in ("hard_negatives_in", "hard_negatives_on_labels",
                                           "hard_negative_chips")} == {
        "hard_negatives_in": 3, "hard_negatives_on_labels": 1, "hard_negative_chips": 2}
    assert summary.options["hard_negatives"] == ["verdicts.geojson"]
    without = build_dataset([ortho, other], labels, tmp_path / "plain", grid=grid, negative_ratio=0,
                            split="ortho", val_frac=0.3, test_frac=0)
    assert sum(c["negative"] for c in without.splits.values()) == 0


def test_split_by_ortho_keeps_overlapping_orthos_together(tmp_path):
    a = write_rgba(tmp_path / "a.tif", (256, 256), seed=1)
    b = write_rgba(tmp_path / "b.tif", (256, 256), origin=(ORIGIN[0] + 10, ORIGIN[1]), seed=2)
    c = write_rgba(tmp_path / "c.tif", (256, 256), origin=(ORIGIN[0] + 500, ORIGIN[1]), seed=3)
    boxes = [[30, 30, 60, 60], [150, 150, 190, 180]]
    labels = LabelSet.concat([boxes_to_labels(p, boxes) for p in (a, b, c)])
    out = tmp_path / "ds"
    build_dataset([a, b, c], labels, out, grid=GridSpec(0.1, 128, 32), split="ortho", seed=0,
                  val_frac=0.3, test_frac=0.3)
    index = read_index(out)
    split_of = {src: set(index["split"][index["source"] == src]) for src in ("a.tif", "b.tif", "c.tif")}
    assert split_of["a.tif"] == split_of["b.tif"] and len(split_of["a.tif"]) == 1
    assert split_of["c.tif"] != split_of["a.tif"]
    assert_no_ground_in_two_splits(index)


def test_data_yaml_needs_no_path_and_survives_a_move(survey_ds, tmp_path, monkeypatch):
    data = yaml.safe_load((survey_ds / "data.yaml").read_text())
    assert "path" not in data
    assert data["train"] == "images/train" and data["names"] == {0: "poppy"}
    moved = tmp_path / "elsewhere" / "ds"
    shutil.copytree(survey_ds, moved)
    from poppyscan.detect._ultralytics import configure_offline

    configure_offline()
    from ultralytics.data.utils import check_det_dataset

    monkeypatch.chdir(tmp_path)
    resolved = check_det_dataset(str(moved / "data.yaml"))
    assert Path(resolved["train"]) == (moved / "images" / "train").resolve()
    monkeypatch.chdir(moved)
    resolved = check_det_dataset("data.yaml")
    assert Path(resolved["val"]) == (moved / "images" / "val").resolve()


def test_real_osbs_tree_labels_build_a_georeferenced_dataset(tmp_path, real_dir):
    out = tmp_path / "osbs"
    summary = build_dataset([real_dir / "OSBS_029.tif"], real_dir / "OSBS_029.csv", out, grid=GRID)
    assert summary.class_names == ("Tree",)
    assert summary.crs == "EPSG:32617"
    assert summary.counts["labels_in"] == 61
    n_boxes = sum(s["labels"].get("Tree", 0) for s in summary.splits.values())
    assert all(summary.splits[s]["positive"] > 0 for s in ("train", "val", "test"))
    # The chips read back through the label readers, on the map, inside the original crowns.
    back = read_labels(out, format="yolo")
    assert len(back) == n_boxes and set(back.classes) == {"Tree"}
    original = read_labels(real_dir / "OSBS_029.csv")
    grown = shapely.buffer(original.geometries, 0.05, join_style="mitre")
    for box in back.geometries:
        assert np.any(shapely.contains(grown, box))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_real_image_keeps_its_labels_and_no_pixel_is_in_two_splits(tmp_path, real_dir, seed):
    # OSBS_029 (400 x 400 px at 10 cm, 61 crowns) on the 128 px / 32 px grid: 4 x 4 chips over
    # 2 x 2 blocks of 28.8 m. Dropping the chips that straddled a block edge kept 48-53 of the
    # 61 crowns for these seeds; cropping them keeps every one.
    ortho = real_dir / "OSBS_029.tif"
    summary = build_dataset([ortho], real_dir / "OSBS_029.csv", tmp_path / "ds", grid=GRID,
                            seed=seed)
    counts = summary.counts
    assert counts["labels_in"] == 61 and counts["labels_in"] - counts["labels_unused"] >= 58
    assert counts["chips_cropped_split"] > 0 and counts["chips_dropped_split"] == 0
    assert all(summary.splits[s]["positive"] > 0 for s in ("train", "val"))
    index = read_index(tmp_path / "ds")
    owner = np.full((400, 400), "", dtype=object)  # split of each source pixel, from the chips
    with rasterio.open(ortho) as src:
        valid = src.dataset_mask() > 0
        for k, file in enumerate(index["file"]):
            window = rasterio.windows.Window(int(index["win_col_off"][k]),
                                             int(index["win_row_off"][k]), 128, 128)
            own = geometry_mask([index["geometry"][k]], (128, 128), src.window_transform(window),
                                invert=True)
            image = cv2.imread(str(tmp_path / "ds" / file))
            assert np.all(image[~own] == 0)  # beyond its split's ground: masked like the collar
            rows, cols = np.nonzero(own)
            rows, cols = rows + window.row_off, cols + window.col_off
            inside = (rows < 400) & (cols < 400)
            rows, cols = rows[inside], cols[inside]
            claimed = owner[rows, cols]
            assert np.all((claimed == "") | (claimed == index["split"][k]))
            owner[rows, cols] = index["split"][k]
    assert (owner[valid] != "").mean() > 0.9  # most of the image is in some split


def test_strips_past_the_last_chip_centre_belong_to_one_split(tmp_path):
    # 59 m square, 12.8 m chips every 9.6 m: the last chip centres are at 54.4 m, so the ground
    # from the 57.6 m block edge to 59 m holds no chip centre; chips of two splits reach into it.
    ortho = write_rgba(tmp_path / "o.tif", (590, 590))
    boxes = [[x, y, x + 30, y + 30] for x in range(10, 560, 60) for y in range(10, 560, 60)]
    labels = boxes_to_labels(ortho, boxes)
    for seed in range(4):
        summary = build_dataset([ortho], labels, tmp_path / f"ds{seed}", grid=GRID, seed=seed,
                                block_m=28.8, negative_ratio=0)
        assert summary.counts["chips_dropped_split"] == 0
        assert summary.counts["labels_unused"] == 0
        assert_no_ground_in_two_splits(read_index(tmp_path / f"ds{seed}"))


def test_native_gsd_builds_at_the_sources_gsd_and_records_it(tmp_path, real_dir):
    ortho, csv = real_dir / "OSBS_029.tif", real_dir / "OSBS_029.csv"
    native = build_dataset([ortho], csv, tmp_path / "n", grid=GridSpec(None, 128, 32), seed=0)
    fixed = build_dataset([ortho], csv, tmp_path / "f", grid=GRID, seed=0)
    assert native.gsd_m == 0.1 and native.options["gsd"] == "native"
    assert load_summary(tmp_path / "n").gsd_m == 0.1
    assert native.splits == fixed.splits and native.options["block_m"] == fixed.options["block_m"]
    other = write_rgba(tmp_path / "coarse.tif", (128, 128), gsd_m=0.102)  # 2 % coarser
    with pytest.raises(ConfigError, match=r"coarse.tif: pixels of 0.102 x 0.102 m.*within 1%"):
        build_dataset([ortho, other], csv, tmp_path / "x", grid=GridSpec(None, 128, 32))


def test_a_failed_overwrite_keeps_the_old_dataset(survey, survey_ds, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    shutil.copytree(survey_ds, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()
              and ".poppyscan" not in p.parts}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("poppyscan.train.dataset.build.write_chip_index", disk_full)
    with pytest.raises(OSError):
        build_dataset([survey.ortho_path], survey.plots_path, out, grid=GRID, seed=1, overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()
             and ".poppyscan" not in p.parts}
    assert after == before  # every old file, byte for byte; nothing new beside them
    assert not list((out / ".poppyscan").glob("staging-*"))
    monkeypatch.undo()
    rebuilt = build_dataset([survey.ortho_path], survey.plots_path, out, grid=GRID, seed=1,
                            overwrite=True)
    assert rebuilt.path == out and load_summary(out).options["seed"] == 1
