"""How many bytes a TIFF's image blocks really store, read from its first directory.

A file's size says nothing about its pixels: random bytes appended to a tiny
header claiming 100,000 x 100,000 px make a large file of nothing. What the
image holds is the union of the byte ranges its tile (or strip) offsets and
byte counts point at inside the file; a block with no bytes, or pointing past
the end, is missing (GDAL reads it as empty).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StoredBlocks", "stored_blocks"]

_OFFSETS = (324, 273)  # TileOffsets, StripOffsets
_COUNTS = (325, 279)  # TileByteCounts, StripByteCounts
_TYPES = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8
MAX_BLOCKS = 50_000_000  # a 400 MB table: more is no orthomosaic


@dataclass(frozen=True)
class StoredBlocks:
    blocks: int
    missing: int
    stored_bytes: int  # union of the blocks' byte ranges inside the file


def stored_blocks(path: Path) -> StoredBlocks:
    """The first image's block table; ValueError when the TIFF directory cannot be read."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        order = {b"II": "<", b"MM": ">"}.get(handle.read(2))
        if order is None:
            raise ValueError("not a TIFF")
        big = struct.unpack(order + "H", handle.read(2))[0] == 43
        if big:
            handle.read(4)
        first = _unpack(handle, order, "Q" if big else "I")
        tags = _directory(handle, order, big, first)
        offsets = _array(handle, order, big, _pick(tags, _OFFSETS))
        counts = _array(handle, order, big, _pick(tags, _COUNTS))
    if len(offsets) != len(counts):
        raise ValueError("block offsets and byte counts differ in number")
    pairs = zip(offsets, counts, strict=True)
    ranges = sorted((o, min(o + c, size)) for o, c in pairs if c and 0 < o < size)
    return StoredBlocks(len(offsets), len(offsets) - len(ranges), _union(ranges))


def _unpack(handle, order: str, code: str):
    raw = handle.read(struct.calcsize(code))
    if len(raw) != struct.calcsize(code):
        raise ValueError("the TIFF directory runs past the end of the file")
    return struct.unpack(order + code, raw)[0]


def _directory(handle, order: str, big: bool, at: int) -> dict[int, tuple[int, int, bytes]]:
    """Tag -> (type, count, value-or-offset field bytes) of the directory at ``at``."""
    handle.seek(at)
    entries = _unpack(handle, order, "Q" if big else "H")
    if entries > 4096:
        raise ValueError(f"a TIFF directory of {entries} entries")
    tags = {}
    for _ in range(entries):
        tag, kind = _unpack(handle, order, "H"), _unpack(handle, order, "H")
        count = _unpack(handle, order, "Q" if big else "I")
        tags[tag] = (kind, count, handle.read(8 if big else 4))
    return tags


def _pick(tags: dict, choices: tuple[int, int]) -> tuple[int, int, bytes]:
    for tag in choices:
        if tag in tags:
            return tags[tag]
    raise ValueError("no tile or strip table")


def _array(handle, order: str, big: bool, entry: tuple[int, int, bytes]) -> list[int]:
    kind, count, field = entry
    if kind not in _TYPES or count > MAX_BLOCKS:
        raise ValueError(f"a block table of type {kind} and {count:,} entries")
    code = _TYPES[kind]
    width = struct.calcsize(code) * count
    if width <= len(field):
        raw = field[:width]
    else:
        handle.seek(struct.unpack(order + ("Q" if big else "I"), field)[0])
        raw = handle.read(width)
        if len(raw) != width:
            raise ValueError("the block table runs past the end of the file")
    return list(struct.unpack(f"{order}{count}{code}", raw))


def _union(ranges: list[tuple[int, int]]) -> int:
    total, reach = 0, 0
    for start, end in ranges:
        start = max(start, reach)
        if end > start:
            total += end - start
            reach = end
    return total
