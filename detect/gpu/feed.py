"""Chips decoded on the device from the compressed tiles of JPEG-tiled orthomosaics.

On a GPU, GDAL's CPU JPEG decoding is the wall, not the network. For
JPEG-tiled GeoTIFFs (:func:`poppyscan.tiles.jpeg_tiles.jpeg_tiles`) this feed
reads only the tiles' compressed bytes on the host (plain file reads, plus
an internal mask through GDAL, on a pool of threads or processes), decodes
each batch's tiles in one ``torchvision.io.decode_jpeg`` call on the device
(nvJPEG on CUDA, libjpeg-turbo on the CPU), then crops, resamples and masks
the chips there, so a (B, 3, H, W) batch reaches the model without a host
round trip.

Chips follow :class:`~poppyscan.tiles.reader.ChipReader`'s rules: the same
windows, the overview GDAL would read from, ``average`` / ``bilinear`` /
``nearest`` as GDAL computes them (:mod:`.taps`) with masked pixels left out,
the dataset mask sampled like GDAL's nearest, masked pixels black. What
differs is the JPEG decoder (GDAL's libjpeg against libjpeg-turbo or nvJPEG:
a few levels on a few pixels). Rasters it cannot decode this way (striped,
RGBA JPEG, lossless, warped, 16-bit, alpha masks) are read by ChipReader on
the same pool, so every raster goes through one feed.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from poppyscan.detect.gpu.plan import (
    ChipPlan,
    FeedSource,
    feed_source,
    plan_chip,
    read_chips,
    read_masks,
    split,
    unique_tiles,
)
from poppyscan.detect.gpu.taps import AxisTaps
from poppyscan.errors import ConfigError, RasterError
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.grid import GridSpec
from poppyscan.tiles.jpeg_tiles import read_streams
from poppyscan.tiles.raster import RasterInfo

if TYPE_CHECKING:
    import torch

__all__ = ["DECODERS", "FeedBatch", "JpegTileFeed", "POOLS"]

POOLS = ("thread", "process")
DECODERS = ("device", "gdal")


@dataclass(frozen=True, eq=False)
class FeedBatch:
    """Chips of one batch: pixels on the device, geometry and valid masks on the host.

    ``images`` is (B, 3, S, S) uint8 on the feed's device. Each chip's
    ``pixels`` is a read-only all-zero placeholder of the right shape (the
    pixels stay on the device); ``valid``, ``transform`` and the rest are real,
    so :func:`~poppyscan.detect.detections.detections_from_chip` works on them.
    """

    items: list[tuple]
    chips: list[Chip]
    images: torch.Tensor
    decoded: int  # chips made from tiles on the device; the rest were read by ChipReader

    def host_pixels(self) -> np.ndarray:
        """(B, S, S, 3) uint8 on the host, as ChipReader returns them (tests, thumbnails)."""
        return self.images.permute(0, 2, 3, 1).cpu().numpy()


class JpegTileFeed:
    """Reads batches of grid cells into device tensors; see the module docstring.

    ``device`` is a torch device ("cuda", "cuda:1", "cpu"); ``workers`` host
    workers of kind ``pool`` ("thread" or "process") read tile bytes, masks
    and fallback chips; :meth:`stream` keeps ``prefetch`` batches in flight.
    ``decode="gdal"`` has ChipReader read every chip on the pool (decoded on
    the host by GDAL, or by ChipReader's own libjpeg-turbo for native-GSD chips
    of a plain RGB JPEG file; chips are sent to the device): the CPU-decode baseline.
    Worker processes are spawned (CUDA does not survive a fork), so a script
    using ``pool="process"`` needs the ``if __name__ == "__main__":`` guard.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, spec: GridSpec, *, device: str = "cpu", workers: int = 4,
                 pool: str = "thread", prefetch: int = 2, decode: str = "device") -> None:
        import torch

        if pool not in POOLS:
            raise ConfigError(f"pool={pool!r}: expected one of {', '.join(POOLS)}")
        if decode not in DECODERS:
            raise ConfigError(f"decode={decode!r}: expected one of {', '.join(DECODERS)}")
        if workers < 1 or prefetch < 1:
            raise ConfigError(f"workers={workers!r} and prefetch={prefetch!r} must be >= 1")
        self.spec, self.device, self.workers, self.prefetch = spec, torch.device(device), workers, prefetch
        self._pool: Executor = (ThreadPoolExecutor(workers, thread_name_prefix="feed") if pool == "thread"
                                else ProcessPoolExecutor(workers, multiprocessing.get_context("spawn")))
        self.decode = decode
        self._sources: dict[str, FeedSource | None] = {}
        self._taps_on_device: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def __enter__(self) -> JpegTileFeed:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for source in self._sources.values():
            if source is not None:
                source.close()
        self._sources.clear()

    def decodes(self, info: RasterInfo) -> bool:
        """True when chips of ``info`` are decoded from its tiles (else ChipReader reads them)."""
        return self._source(info) is not None

    def read(self, items: Sequence[tuple]) -> FeedBatch:
        """One batch of ``(info, cell, ...)`` items (extra elements are passed through)."""
        return next(self.stream([items]))

    def stream(self, batches: Iterable[Sequence[tuple]]) -> Iterator[FeedBatch]:
        """Batches in order; host reads of the next batches overlap device work on this one."""
        pending: deque = deque()
        for items in batches:
            pending.append(self._submit(list(items)))
            if len(pending) > self.prefetch:
                yield self._finish(*pending.popleft())
        while pending:
            yield self._finish(*pending.popleft())

    # -- host side ---------------------------------------------------------------------------

    def _source(self, info: RasterInfo) -> FeedSource | None:
        if info.path not in self._sources:
            self._sources[info.path] = (feed_source(info, self.spec) if self.decode == "device"
                                        else None)
        return self._sources[info.path]

    def _submit(self, items: list[tuple]):
        """Plan every chip and send its host reads to the pool."""
        plans, fallback = [], []
        for i, item in enumerate(items):
            source = self._source(item[0])
            if source is None:
                fallback.append(i)
                plans.append(None)
            else:
                plans.append(plan_chip(source, item[1]))
        tiles = unique_tiles(p for p in plans if p is not None and p.region is not None)
        streams = {path: [self._pool.submit(read_streams, path, level.tables, level.spans(part))
                          for part in split(keys, self.workers)]
                   for path, (level, keys) in tiles.items()}
        masked = [i for i, p in enumerate(plans)
                  if p is not None and p.region is not None and p.source.mask == "per_dataset"]
        masks = self._by_source(read_masks, masked, lambda i: plans[i].source.level.overview,
                                lambda i: plans[i].mask_job(), items)
        chips = self._by_source(read_chips, fallback, lambda i: self.spec, lambda i: items[i][1],
                                items, pass_info=True)
        return items, plans, tiles, streams, masks, chips

    def _by_source(self, read, indexes, common, what, items, *, pass_info=False) -> dict:
        """Send ``read(path or info, common(i), [what(i), ...])`` jobs, split across workers.

        Returns, per item index, the future of the list holding its result and its place in it.
        """
        out = {}
        by_path: dict[str, list[int]] = {}
        for i in indexes:
            by_path.setdefault(items[i][0].path, []).append(i)
        for group in by_path.values():
            head = items[group[0]][0]
            for part in split(group, self.workers):
                future = self._pool.submit(read, head if pass_info else head.path,
                                           common(part[0]), [what(i) for i in part])
                out.update({i: (future, n) for n, i in enumerate(part)})
        return out

    # -- device side -------------------------------------------------------------------------

    def _finish(self, items, plans, tiles, streams, masks, chips) -> FeedBatch:
        import torch

        size = self.spec.tile_px
        decoded = self._decode(tiles, streams)
        images = torch.zeros((len(items), 3, size, size), dtype=torch.uint8, device=self.device)
        valid = torch.zeros((len(items), size, size), dtype=torch.bool, device=self.device)
        groups: dict[tuple, list[tuple[int, torch.Tensor, torch.Tensor | None]]] = {}
        for i, plan in enumerate(plans):
            if plan is None or plan.region is None:
                continue
            crop = _crop(decoded[plan.source.info.path], plan)
            mask, ok = _masks(plan, crop, masks.get(i), self.device)
            groups.setdefault((crop.shape, plan.ys.key, plan.xs.key, mask is None), []).append(
                (i, crop, mask, ok))
        for members in groups.values():
            self._resample_into(images, valid, plans, members)
        host_valid = valid.cpu().numpy()
        out_chips = []
        for i, plan in enumerate(plans):
            if plan is None:
                future, n = chips[i]
                chip = future.result()[n]
                images[i] = torch.from_numpy(chip.pixels).permute(2, 0, 1).to(self.device)
            else:
                chip = _placeholder_chip(plan, host_valid[i], size)
            out_chips.append(chip)
        return FeedBatch(items, out_chips, images, sum(p is not None for p in plans))

    def _decode(self, tiles, streams) -> dict[str, dict[tuple[int, int], torch.Tensor]]:
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        out: dict[str, dict[tuple[int, int], torch.Tensor]] = {}
        for path, (level, keys) in tiles.items():
            data = [stream for part in streams[path] for stream in part.result()]
            present = [i for i, s in enumerate(data) if s is not None]
            streams_in = [torch.frombuffer(bytearray(data[i]), dtype=torch.uint8) for i in present]
            try:
                images = (decode_jpeg(streams_in, mode=ImageReadMode.RGB, device=self.device)
                          if streams_in else [])
            except RuntimeError as err:
                raise RasterError(f"{path}: a JPEG tile does not decode ({err}); the file is "
                                  "corrupt: copy or export it again".splitlines()[0]) from None
            empty = torch.zeros((3, level.tile_height, level.tile_width), dtype=torch.uint8,
                                device=self.device)
            decoded = dict.fromkeys(keys, empty)
            decoded.update({keys[i]: image for i, image in zip(present, images, strict=True)})
            out[path] = decoded
        return out

    def _resample_into(self, images, valid, plans, members) -> None:
        """Resample chips sharing crop shape and taps in one go; write them into the batch."""
        import torch

        index = [member[0] for member in members]
        plan = plans[index[0]]
        x = torch.stack([member[1] for member in members])
        mask = None if members[0][2] is None else torch.stack([member[2] for member in members])
        ok = self._valid(mask, [member[3] for member in members], plan)
        if not (plan.ys.identity and plan.xs.identity):  # 1:1 chips are their crops
            x = self._apply(x.float(), mask, plan).round_().clamp_(0, 255).to(torch.uint8)
        pixels = x * ok[:, None]
        r0, r1, c0, c1 = plan.region
        if all(plans[i].region == plan.region for i in index):
            where = torch.tensor(index, device=self.device)
            images[where, :, r0:r1, c0:c1] = pixels
            valid[where, r0:r1, c0:c1] = ok
            return
        for n, i in enumerate(index):
            r0, r1, c0, c1 = plans[i].region
            images[i, :, r0:r1, c0:c1] = pixels[n]
            valid[i, r0:r1, c0:c1] = ok[n]

    def _valid(self, mask: torch.Tensor | None, read: list, plan: ChipPlan) -> torch.Tensor:
        """Chip valid masks (N, h, w): read by GDAL, or GDAL's nearest of the source mask."""
        import torch

        if read[0] is not None:
            return torch.from_numpy(np.stack(read)).to(self.device)
        rows = torch.from_numpy(plan.mask_rows).to(self.device)
        cols = torch.from_numpy(plan.mask_cols).to(self.device)
        if mask is None:
            return torch.ones((len(read), len(rows), len(cols)), dtype=torch.bool, device=self.device)
        return mask.amax(dim=1).index_select(1, rows).index_select(2, cols) > 0

    def _apply(self, x: torch.Tensor, mask: torch.Tensor | None, plan: ChipPlan) -> torch.Tensor:
        """GDAL's resampling of (N, 3, h, w): masked pixels left out, as GDAL does."""
        import torch

        if mask is None:
            return self._along(self._along(x, plan.xs, -1), plan.ys, -2)
        total = self._along(self._along(x * mask, plan.xs, -1), plan.ys, -2)
        weight = self._along(self._along(mask, plan.xs, -1), plan.ys, -2)
        return torch.where(weight > 0, total / weight.clamp_min(1e-12), torch.zeros_like(total))

    def _along(self, x: torch.Tensor, taps: AxisTaps, dim: int) -> torch.Tensor:
        index, weights = self._device_taps(taps)
        shape = [1] * x.dim()
        shape[dim] = len(index)
        out = None
        for t in range(index.shape[1]):
            term = x.index_select(dim, index[:, t]) * weights[:, t].reshape(shape)
            out = term if out is None else out.add_(term)
        return out

    def _device_taps(self, taps: AxisTaps) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        if taps.key not in self._taps_on_device:
            self._taps_on_device[taps.key] = (torch.tensor(taps.index, device=self.device),
                                              torch.tensor(taps.weights, device=self.device))
        return self._taps_on_device[taps.key]


def _crop(decoded: dict[tuple[int, int], torch.Tensor], plan: ChipPlan) -> torch.Tensor:
    """The chip's source span (3, h, w), cut from its decoded tiles."""
    import torch

    level, xs, ys = plan.source.level, plan.xs, plan.ys
    rows, cols = level.tiles_over(*plan.span)
    tw, th = level.tile_width, level.tile_height
    strips = [torch.cat([decoded[(r, c)] for c in cols], dim=2) for r in rows]
    mosaic = strips[0] if len(strips) == 1 else torch.cat(strips, dim=1)
    y0, x0 = ys.lo - rows.start * th, xs.lo - cols.start * tw
    return mosaic[:, y0:y0 + ys.hi - ys.lo, x0:x0 + xs.hi - xs.lo]


def _masks(plan: ChipPlan, crop: torch.Tensor, read: tuple[Future, int] | None, device):
    """The crop's valid pixels as resampling weights, and the chip's valid mask if GDAL read it.

    Weights are (3, h, w) for nodata (GDAL leaves each band's nodata out of
    that band), (1, h, w) for a dataset mask, None when all is valid.
    """
    import torch

    source = plan.source
    if source.mask == "all_valid":
        return None, None
    if source.mask == "per_dataset":
        future, n = read
        weights, valid = future.result()[n]
        return torch.from_numpy(weights).to(device)[None].float(), valid
    nodata = torch.tensor(source.nodata, dtype=crop.dtype, device=device)[:, None, None]
    return (crop != nodata).float(), None


def _placeholder_chip(plan: ChipPlan, valid: np.ndarray, size: int) -> Chip:
    pixels = np.broadcast_to(np.zeros((), dtype=np.uint8), (size, size, 3))
    info, cell = plan.source.info, plan.cell
    return Chip(pixels, valid, cell.transform, info.crs, cell.row, cell.col, info.path,
                plan.window, abs(cell.transform.a))
