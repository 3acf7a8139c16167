"""The compressed tiles of a JPEG-tiled GeoTIFF, as standalone JPEG streams.

Photogrammetry tools write orthomosaics as tiled GeoTIFFs with JPEG
compression (mostly YCbCr). Each TIFF tile is an abbreviated JPEG stream
whose quantisation (and sometimes Huffman) tables live once in the file's
JPEGTABLES tag; spliced together they make a complete JPEG that any decoder
accepts (libjpeg-turbo, or nvJPEG through ``torchvision.io.decode_jpeg``), so
tiles can be decoded in batches on a GPU instead of by GDAL on the CPU.

On the CPU, :class:`TileDecoder` decodes them with OpenCV's libjpeg-turbo and
keeps the last few: 3.0 ms a 512 px tile against GDAL's 7-8 ms, because GDAL
decodes through libtiff scanline by scanline, splits the pixels into one block
cache per band and copies them back out for every window. The pixels differ
from GDAL's by chroma upsampling only (libjpeg-turbo's smooth upsampling
against libtiff's plain one): a few levels of colour at sharp edges.

GDAL already knows where the tiles are (``BLOCK_OFFSET_<x>_<y>``,
``BLOCK_SIZE_<x>_<y>`` and ``JPEGTABLES`` in a band's ``TIFF`` metadata
domain), so no TIFF parser is needed. Only layouts a decoder takes as they
are qualify: 8-bit, three pixel-interleaved bands, JPEG with YCbCr or RGB
photometric, tiled (not striped). Anything else gives None and the caller
reads through GDAL.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Compression, Interleaving, PhotometricInterp
from rasterio.errors import RasterioError

from poppyscan.errors import RasterError

__all__ = ["JpegTiles", "TileDecoder", "jpeg_stream", "jpeg_tiles", "read_streams", "scan_problem"]

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
# GDAL reports no photometric for a plain RGB JPEG; its colour interpretation says RGB.
_PHOTOMETRICS = (PhotometricInterp.ycbcr, PhotometricInterp.rgb, None)
_RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


@dataclass(frozen=True, eq=False)
class JpegTiles:
    """Where the JPEG tiles of one resolution level of a GeoTIFF lie.

    ``offsets`` and ``sizes`` are (rows, cols) byte offsets and lengths; a size
    of 0 marks a tile the file leaves out (a sparse, empty tile). ``factor`` is
    the level's downsampling (x, y) from full resolution, (1, 1) for full
    resolution; ``overview`` is GDAL's overview index or None.
    """

    path: str
    width: int
    height: int
    tile_width: int
    tile_height: int
    offsets: np.ndarray
    sizes: np.ndarray
    tables: bytes
    factor: tuple[float, float]
    overview: int | None

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of tiles."""
        return self.offsets.shape

    def tiles_over(self, col0: int, row0: int, col1: int, row1: int) -> tuple[range, range]:
        """Tile rows and columns covering pixels ``[row0, row1) x [col0, col1)`` of this level."""
        return (range(row0 // self.tile_height, (row1 - 1) // self.tile_height + 1),
                range(col0 // self.tile_width, (col1 - 1) // self.tile_width + 1))

    def spans(self, keys: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """``(offset, size)`` of the tiles ``(row, col)``."""
        return [(int(self.offsets[r, c]), int(self.sizes[r, c])) for r, c in keys]


def jpeg_tiles(path: str | os.PathLike, *, overview: int | None = None) -> JpegTiles | None:
    """The tile layout of ``path`` (or of its overview ``overview``), or None if not decodable as is.

    None means: not a GeoTIFF, not JPEG, not three 8-bit pixel-interleaved
    bands, striped, or a photometric other than YCbCr or RGB (an RGBA JPEG
    is a four-component stream no standard decoder turns into RGB).
    """
    path = str(path)
    try:
        with rasterio.open(path) as src:
            if not _decodable(src):
                return None
            full_size, n_levels = (src.width, src.height), len(src.overviews(1))
        if overview is None:
            with rasterio.open(path) as level:
                return _layout(path, level, None, full_size)
        if not 0 <= overview < n_levels:
            return None
        with rasterio.open(path, overview_level=overview) as level:
            return _layout(path, level, overview, full_size)
    except RasterioError as err:
        raise RasterError(f"{path}: cannot read its tile layout ({err})".splitlines()[0]) from None


class TileDecoder:
    """Full-resolution windows of a JPEG-tiled GeoTIFF, decoded tile by tile on the CPU.

    Reads through ``src``'s own handle (one decoder per thread, like the
    dataset) and keeps the last ``capacity`` decoded tiles, so the tiles that
    neighbouring chips share are decoded once. A damaged tile is a
    RasterError naming the file and the tile's byte offset (:func:`read_streams`).
    """

    def __init__(self, src: rasterio.io.DatasetReader, capacity: int) -> None:
        self.path = src.name
        self.tile_height, self.tile_width = src.block_shapes[0]
        self._src = src
        self._tables = _jpeg_tables(src)
        self._tiles: OrderedDict[tuple[int, int], np.ndarray | None] = OrderedDict()
        self._capacity = max(1, capacity)

    @classmethod
    def of(cls, src: rasterio.io.DatasetReader, capacity: int) -> TileDecoder | None:
        """A decoder for ``src``, or None when its tiles are not plain RGB JPEG (see :func:`jpeg_tiles`)."""
        return cls(src, capacity) if _decodable(src) else None

    def read(self, col_off: int, row_off: int, out: np.ndarray) -> None:
        """Fill ``out`` (rows, cols, 3) with the pixels whose top left is ``(col_off, row_off)``."""
        rows, cols = out.shape[:2]
        th, tw = self.tile_height, self.tile_width
        for r in range(row_off // th, (row_off + rows - 1) // th + 1):
            y0, y1 = max(row_off, r * th), min(row_off + rows, (r + 1) * th)
            for c in range(col_off // tw, (col_off + cols - 1) // tw + 1):
                x0, x1 = max(col_off, c * tw), min(col_off + cols, (c + 1) * tw)
                target = out[y0 - row_off:y1 - row_off, x0 - col_off:x1 - col_off]
                tile = self._tile(r, c)
                if tile is None:  # a tile the file leaves out reads as zeros, as in GDAL
                    target[:] = 0
                else:
                    target[:] = tile[y0 - r * th:y1 - r * th, x0 - c * tw:x1 - c * tw]

    def _tile(self, row: int, col: int) -> np.ndarray | None:
        key = (row, col)
        if key in self._tiles:
            self._tiles.move_to_end(key)
            return self._tiles[key]
        tile = self._decode(row, col)
        self._tiles[key] = tile
        if len(self._tiles) > self._capacity:
            self._tiles.popitem(last=False)
        return tile

    def _decode(self, row: int, col: int) -> np.ndarray | None:
        span = _tile_span(self._src, row, col)
        stream = None if span is None else read_streams(self.path, self._tables, [span])[0]
        if stream is None:
            return None
        tile = cv2.imdecode(np.frombuffer(stream, dtype=np.uint8), cv2.IMREAD_COLOR_RGB)
        if tile is None or tile.shape != (self.tile_height, self.tile_width, 3):
            raise RasterError(f"{self.path}: damaged JPEG tile at byte {span[0]} (not decodable); "
                              "the file is corrupt: copy or export it again")
        return tile


def _decodable(src) -> bool:
    if src.driver != "GTiff" or src.count != 3 or set(src.dtypes) != {"uint8"}:
        return False
    if src.compression != Compression.jpeg or src.interleaving != Interleaving.pixel:
        return False
    if src.photometric not in _PHOTOMETRICS or tuple(src.colorinterp) != _RGB:
        return False
    tile_height, tile_width = src.block_shapes[0]
    striped = tile_width >= src.width and tile_height < tile_width
    return not striped and tile_width % 8 == 0 and tile_height % 8 == 0


def _layout(path: str, level, overview: int | None, full_size: tuple[int, int]) -> JpegTiles | None:
    if not _decodable(level):  # an overview may be compressed otherwise
        return None
    tile_height, tile_width = level.block_shapes[0]
    rows, cols = -(-level.height // tile_height), -(-level.width // tile_width)
    offsets = np.zeros((rows, cols), dtype=np.int64)
    sizes = np.zeros((rows, cols), dtype=np.int64)
    for row in range(rows):
        for col in range(cols):
            span = _tile_span(level, row, col)
            if span is not None:
                offsets[row, col], sizes[row, col] = span
    factor = (full_size[0] / level.width, full_size[1] / level.height)
    return JpegTiles(path, level.width, level.height, tile_width, tile_height, offsets, sizes,
                     _jpeg_tables(level), factor, overview)


def _tile_span(src, row: int, col: int) -> tuple[int, int] | None:
    """``(offset, size)`` in bytes of one tile, or None for a tile left out (sparse file)."""
    offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1)
    size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1)
    return None if offset is None or size is None else (int(offset), int(size))


def _jpeg_tables(src) -> bytes:
    """The file's JPEGTABLES (quantisation and Huffman tables), ``b""`` when tiles carry their own."""
    tables_hex = src.get_tag_item("JPEGTABLES", "TIFF", bidx=1)
    return bytes.fromhex(tables_hex) if tables_hex else b""


def jpeg_stream(tables: bytes, tile: bytes) -> bytes:
    """A complete JPEG from a TIFF tile and the file's JPEGTABLES (``b""``: the tile as is).

    Both start with SOI and the tables end with EOI; the tables' markers go
    between the tile's SOI and the rest of the tile.

    >>> jpeg_stream(bytes.fromhex("ffd8 ffdb 51 ffd9"), bytes.fromhex("ffd8 ffc0 46 ffd9")).hex()
    'ffd8ffdb51ffc046ffd9'
    """
    if not tables:
        return tile
    if not (tables.startswith(_SOI) and tables.endswith(_EOI) and tile.startswith(_SOI)):
        raise RasterError("JPEG tile or JPEGTABLES does not start with SOI / end with EOI")
    return tables[:-2] + tile[2:]


def read_streams(path: str, tables: bytes, spans: Sequence[tuple[int, int]]) -> list[bytes | None]:
    """Complete JPEG streams of the tiles at ``spans`` (None for a tile left out of the file).

    Each tile's entropy-coded data is checked for stray markers, the damage
    libjpeg only warns about (and GDAL turns into a RasterError): a decoder
    on the device would decode it into garbage without a word. A plain
    function of picklable arguments, so it runs in worker processes too.
    """
    out: list[bytes | None] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset, size in spans:
            if size == 0:
                out.append(None)
                continue
            tile = os.pread(fd, size, offset)
            problem = "cut short" if len(tile) != size else scan_problem(tile)
            if problem:
                raise RasterError(f"{path}: damaged JPEG tile at byte {offset} ({problem}); "
                                  "the file is corrupt: copy or export it again")
            out.append(jpeg_stream(tables, tile))
    finally:
        os.close(fd)
    return out


def scan_problem(tile: bytes) -> str | None:
    """What is wrong with a baseline JPEG tile's markers, or None.

    Walks the header markers to the start of scan, then looks in the
    entropy-coded data for any marker other than a stuffed ``FF 00``, the
    restart markers (when a restart interval is set) and the final EOI.

    >>> scan_problem(bytes.fromhex("ffd8 ffda 0002 12 ff00 34 ffd9")) is None
    True
    >>> scan_problem(bytes.fromhex("ffd8 ffda 0002 12 ffd0 34 ffd9"))
    'stray marker FFD0 in the image data'
    """
    pos, restarts = 2, False
    while True:
        if pos + 4 > len(tile) or tile[pos] != 0xFF:
            return "no start of scan"
        marker = tile[pos + 1]
        length = int.from_bytes(tile[pos + 2:pos + 4], "big")
        restarts |= marker == 0xDD and int.from_bytes(tile[pos + 4:pos + 6], "big") > 0
        pos += 2 + length
        if marker == 0xDA:
            break
    if not tile.endswith(_EOI):
        return "no end of image"
    data = np.frombuffer(tile, dtype=np.uint8, offset=pos)[:-2]
    after = data[1:][data[:-1] == 0xFF]
    allowed = (after == 0x00) | (after == 0xFF) | (restarts & (after >= 0xD0) & (after <= 0xD7))
    if not allowed.all():
        return f"stray marker FF{int(after[~allowed][0]):02X} in the image data"
    return None
