"""How a detection run executes: on which device and runtime, how many chips at a time, where.

A :class:`Runtime` changes how fast a run goes, never what it finds (precision
aside: each precision runs at its own threshold from the model card). It is one
frozen value, checked once, that the API, the CLI, the pipeline and the engines
pass along instead of six loose parameters.

>>> Runtime(backend="openvino", batch_size=16).workers
4
>>> Runtime(engine="gpu")
Traceback (most recent call last):
...
poppyscan.errors.ConfigError: engine='gpu': use one of local, ray
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from poppyscan.errors import ConfigError

__all__ = ["BACKENDS", "ENGINES", "PRECISIONS", "Runtime"]

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
PRECISIONS = ("auto", "f32", "bf16")
ENGINES = ("local", "ray")  # where chip blocks run: this process, or Ray actors
MAX_BATCH = 1024
MAX_WORKERS = 64


@dataclass(frozen=True)
class Runtime:
    """Device (``auto``, ``cpu``, ``cuda``, ``cuda:N``), backend, precision, chips per forward
    pass, reader threads and engine of a detection run."""

    device: str = "auto"
    backend: str = "auto"
    precision: str = "auto"
    batch_size: int = 8
    workers: int = 4
    engine: str = "local"

    def __post_init__(self) -> None:
        for name, choices in (("backend", BACKENDS), ("precision", PRECISIONS),
                              ("engine", ENGINES)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name}={getattr(self, name)!r}: use one of "
                                  f"{', '.join(choices)}")
        for name, top in (("batch_size", MAX_BATCH), ("workers", MAX_WORKERS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ConfigError(f"{name}={value!r}: a whole number from 1 to {top}")
        if not isinstance(self.device, str) or not self.device:
            raise ConfigError(f"device={self.device!r}: auto, cpu, cuda or cuda:N")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **overrides: Any) -> Runtime:
        """The runtime of detect settings (``configs/detect.yaml`` keys), ``overrides`` on top."""
        names = [f.name for f in dataclasses.fields(cls)]
        values = {name: settings[name] for name in names if settings.get(name) is not None}
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("batch_size", "workers"):
            if name in values and isinstance(values[name], float) and values[name].is_integer():
                values[name] = int(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
