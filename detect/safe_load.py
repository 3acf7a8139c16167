"""Load YOLO weights without running code hidden in their pickle.

A ``.pt`` file is a pickle, and ``torch.load(weights_only=False)`` (what
``YOLO(path)`` does by default) calls whatever the pickle names. Model folders
travel by USB stick and chat, and the sha256 in a card is written by whoever
wrote the weights, so it proves nothing. Every poppyscan load of weights
therefore goes through Ultralytics' restricted loader:
``torch.load(weights_only=True)`` against an allow-list of the torch and
Ultralytics model classes a checkpoint holds, with model YAMLs parsed without
``eval``. A file naming anything else (``exec``, ``os.system``, a class of its
own) is refused with one :class:`ModelError` line naming the file, before any of
it runs.

:func:`enable_safe_loading` switches Ultralytics' own loads (training resume,
validation) to the same loader for the rest of the process.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poppyscan.detect._ultralytics import configure_offline
from poppyscan.errors import ModelError

if TYPE_CHECKING:
    import torch

__all__ = ["enable_safe_loading", "load_checkpoint", "load_model"]

# How torch's restricted unpickler (and Ultralytics' getattr guard) names what it refused.
_REFUSED = re.compile(r"GLOBAL (\S+) (?:was not an allowed global|whose module)|(unsafe getattr\([^)]*\))")


def enable_safe_loading() -> None:
    """From now on, every Ultralytics checkpoint load in this process is a ``weights_only`` load.

    Process-wide and never undone: a switch that is turned back off at the end
    of a block would leave another thread's load unprotected.
    """
    configure_offline("loading .pt weights")
    import torch

    if not hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint"):
        raise ModelError(f"torch {torch.__version__} cannot load weights safely; install torch>=2.6")
    import ultralytics.nn.tasks as tasks

    if not hasattr(tasks, "SAFE_LOAD"):
        raise ModelError("this Ultralytics cannot load weights safely; install ultralytics>=8.4")
    tasks.SAFE_LOAD = True  # read per load by torch_safe_load and by parse_model (no eval)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dictionary of ``path`` (model, optimizer state, train args)."""
    enable_safe_loading()
    with _refusals(path):
        from ultralytics.nn.tasks import torch_safe_load

        ckpt, _ = torch_safe_load(str(path), safe_only=True)
        if not isinstance(ckpt, dict):
            raise TypeError(f"holds a {type(ckpt).__name__}, not a checkpoint dictionary")
    return ckpt


def load_model(path: str | os.PathLike) -> torch.nn.Module:
    """The network of an Ultralytics checkpoint in float32 eval mode, on the CPU."""
    enable_safe_loading()
    with _refusals(path):
        from ultralytics.nn.tasks import load_checkpoint as ultralytics_load

        model, _ = ultralytics_load(str(path))
    return model


@contextlib.contextmanager
def _refusals(path: str | os.PathLike) -> Iterator[None]:
    """Any failure to load ``path`` as one ModelError line naming the file."""
    if not Path(path).is_file():  # Ultralytics would look for a missing file online
        raise ModelError(f"{path}: weights file not found")
    try:
        yield
    except ModelError:
        raise
    except Exception as err:  # a file of unknown bytes fails in many ways
        raise ModelError(f"{path}: {_reason(err, path)}") from None


def _reason(err: BaseException, path: str | os.PathLike) -> str:
    cause: BaseException | None = err
    while cause is not None:
        refused = _REFUSED.search(str(cause))
        if refused:
            return (f"refused: the file asks to run {refused.group(1) or refused.group(2)}, which is "
                    "not part of a model (weights may hold only torch/Ultralytics model classes); "
                    "do not use this file")
        cause = cause.__cause__ or cause.__context__
    first = next((line for line in str(err).splitlines() if line.strip()), "")
    first = first.replace("ERROR ❌️ ", "").replace(str(path), "the file").split(". ")[0].strip()
    return f"not a loadable Ultralytics checkpoint ({type(err).__name__}: {first})"
