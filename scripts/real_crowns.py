"""Real tree-crown images with labels, read from a DeepForest wheel (never imported).

``pip download deepforest --no-deps -d /tmp/df`` gives the wheel; this script
reads its NEON images and Pascal VOC labels and writes, for each image, a
GeoTIFF and a DeepForest CSV of the crowns that poppyscan's tools take:

    python3 scripts/real_crowns.py --wheel /tmp/df/deepforest-*.whl --out /tmp/crowns

The PNGs carry no georeference. NEON's tile name gives the UTM zone and the
tile's corner (``2019_YELL_2_528000_4978000``: zone 12N, easting 528000,
northing 4978000); the crop's offset inside the tile is unknown, so each image is
placed with its top-left pixel at the tile's north-west corner, 10 cm pixels
(NEON's RGB GSD). Areas and GSD are right; absolute positions are nominal.
NEON data are public domain (CC0); DeepForest is MIT.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

GSD_M = 0.1
NEON_TILE_M = 1000
# NEON site -> UTM zone (north) of its tiles.
UTM_ZONE = {"YELL": 12, "SOAP": 11, "OSBS": 17}
IMAGES = ("2019_YELL_2_528000_4978000_image_crop2", "2019_YELL_2_541000_4977000_image_crop")


def voc_boxes(xml_bytes: bytes) -> list[tuple[int, int, int, int, str]]:
    """(xmin, ymin, xmax, ymax, label) of a Pascal VOC file; no entities resolved."""
    if b"<!ENTITY" in xml_bytes or b"<!DOCTYPE" in xml_bytes:
        raise ValueError("VOC file declares a DTD or entities; refused")
    root = ElementTree.fromstring(xml_bytes)
    boxes = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        xs = [int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append((*xs, obj.findtext("name") or "Tree"))
    return boxes


def write_geotiff(rgb: np.ndarray, path: Path, stem: str) -> None:
    """``rgb`` as a deflate GeoTIFF at 10 cm, placed at its NEON tile's corner (see the doc)."""
    import rasterio
    from rasterio.transform import from_origin

    match = re.match(r"\d{4}_([A-Z]{4})_\d+_(\d+)_(\d+)_", stem)
    site, east, north = match.group(1), int(match.group(2)), int(match.group(3))
    crs = f"EPSG:{32600 + UTM_ZONE[site]}"
    transform = from_origin(east, north + NEON_TILE_M, GSD_M, GSD_M)
    with rasterio.open(path, "w", driver="GTiff", width=rgb.shape[1], height=rgb.shape[0],
                       count=3, dtype="uint8", crs=crs, transform=transform,
                       compress="deflate", tiled=True) as dst:
        dst.write(rgb.transpose(2, 0, 1))


def extract(wheel: Path, out: Path) -> list[Path]:
    """Write ``IMAGES`` as GeoTIFF + CSV into ``out``; return the GeoTIFF paths."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as zf:
        for stem in IMAGES:
            with zf.open(f"deepforest/data/{stem}.png") as fh:
                rgb = np.asarray(Image.open(fh).convert("RGB"))
            tif = out / f"{stem}.tif"
            write_geotiff(rgb, tif, stem)
            with open(out / f"{stem}.csv", "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["image_path", "xmin", "ymin", "xmax", "ymax", "label"])
                for box in voc_boxes(zf.read(f"deepforest/data/{stem}.xml")):
                    writer.writerow([tif.name, *box])
            written.append(tif)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="deepforest-*.whl")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        sys.exit(f"{args.wheel}: no such wheel (pip download deepforest --no-deps -d DIR)")
    for tif in extract(args.wheel, args.out):
        print(tif)


if __name__ == "__main__":
    main()
