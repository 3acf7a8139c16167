"""How many CPU threads torch computes with, set after Ultralytics has set its own.

Ultralytics imports with ``OMP_NUM_THREADS=1`` and its ``select_device("cpu")``
calls ``torch.set_num_threads(min(8, cpu_count - 1))``: one thread on a 2-core
laptop, three of four on a 4-core one. Every poppyscan torch path (training,
validation, the PyTorch backend) calls :func:`set_torch_threads` after that, so
the network runs on the cores the process may use, or on the number asked for.
An ``OMP_NUM_THREADS`` set before poppyscan was imported (by the user, or by Ray
for an actor of one CPU) still wins over the core count.
"""

from __future__ import annotations

import logging
import os

__all__ = ["cpu_cores", "set_torch_threads"]

log = logging.getLogger(__name__)


def cpu_cores() -> int:
    """CPU cores this process may run on: OMP_NUM_THREADS as set before poppyscan loaded, else
    its affinity mask where the OS has one, else the machine's cores."""
    import poppyscan

    preset = (poppyscan.OMP_NUM_THREADS_AT_START or "").strip()
    if preset.isdigit() and int(preset) > 0:
        return int(preset)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def set_torch_threads(threads: int | None = None, *, quiet: bool = False) -> int:
    """Set torch's intra-op threads to ``threads`` (None: :func:`cpu_cores`); return the number set."""
    import torch

    wanted = cpu_cores() if threads is None else int(threads)
    if wanted < 1:
        raise ValueError(f"threads={threads!r} must be >= 1")
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
        if not quiet:
            log.info("torch threads: %d (%s)", wanted,
                     "the machine's cores" if threads is None else "as configured")
    return torch.get_num_threads()
