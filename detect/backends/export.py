"""Export a bundle's ``weights.pt`` for the fast CPU runtimes, beside it in the bundle.

- ``onnx``: Ultralytics' exporter (offline, the installed torch's opset), dynamic batch and
  chip size, not slimmed (onnxslim took 8 s and changed neither runtime's speed: both
  optimise the graph at load); float32 weights are stored as float16 with a Cast back to
  float32 (the runtimes fold the casts at load and compute in float32 on half the file
  size; boxes moved by about 0.01 px).
- ``openvino``: OpenVINO IR converted from that ONNX graph, weights compressed to float16
  (the runtime's default); both runtimes run the same graph.

Each export is recorded in the card under ``exports`` with its sha256 and the sha256 of
the ``weights.pt`` it was made from, so a stale export is never used. The weights and
their sha256 are left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from poppyscan.detect._ultralytics import configure_offline
from poppyscan.detect.bundle import ModelBundle, load_bundle, sha256_file, update_card
from poppyscan.errors import ConfigError

__all__ = ["EXPORT_FORMATS", "export_bundle", "export_onnx", "export_openvino"]

EXPORT_FORMATS = ("onnx", "openvino")
ONNX_FILE, OPENVINO_FILE = "weights.onnx", "weights.xml"
FP16_MIN_VALUES = 16  # smaller initializers (shapes, scalars) stay float32


def export_bundle(bundle_dir: str | os.PathLike,
                  formats: Sequence[str] = EXPORT_FORMATS) -> ModelBundle:
    """Write ``formats`` (``onnx``, ``openvino``) into the bundle folder; return it reloaded."""
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise ConfigError(f"formats={list(formats)!r}: choose from {', '.join(EXPORT_FORMATS)}")
    bundle = load_bundle(bundle_dir)
    exports = dict(bundle.card.get("exports") or {})
    with tempfile.TemporaryDirectory(dir=bundle.path, prefix=".export-") as tmp:
        onnx_path = export_onnx(bundle.weights_path, Path(tmp) / ONNX_FILE,
                                tile_px=bundle.grid.tile_px)
        made = {"onnx": [onnx_path]}
        if "openvino" in formats:
            made["openvino"] = export_openvino(onnx_path, Path(tmp) / OPENVINO_FILE)
        for fmt in formats:
            for path in made[fmt]:
                os.replace(path, bundle.path / path.name)
            exports[fmt] = _record(bundle, [bundle.path / p.name for p in made[fmt]])
    update_card(bundle.path, lambda card: {**card, "exports": exports})
    return load_bundle(bundle.path)


def export_onnx(weights: str | os.PathLike, out_path: str | os.PathLike, *, tile_px: int,
                batch: int | None = None) -> Path:
    """Ultralytics' ONNX export of ``weights``; ``batch=None`` leaves batch and size dynamic."""
    configure_offline("exporting a model")
    from ultralytics import YOLO

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".onnx-") as tmp:
        source = Path(tmp) / "weights.pt"
        shutil.copyfile(weights, source)
        made = YOLO(str(source), task="detect").export(
            format="onnx", imgsz=tile_px, dynamic=batch is None, batch=batch or 1,
            simplify=False, device="cpu")
        _store_weights_fp16(Path(made))
        os.replace(made, out_path)
    return out_path


def export_openvino(onnx_path: str | os.PathLike, xml_path: str | os.PathLike) -> list[Path]:
    """OpenVINO IR (``.xml`` + ``.bin``) of an ONNX graph, float16-compressed weights."""
    import openvino as ov

    xml_path = Path(xml_path)
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml_path), compress_to_fp16=True)
    return [xml_path, xml_path.with_suffix(".bin")]


def _store_weights_fp16(path: Path) -> None:
    """Store float32 initializers as float16 + Cast (float32 compute, half the bytes)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < FP16_MIN_VALUES:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                       f"{init.name}_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}_to_fp32"))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _record(bundle: ModelBundle, paths: list[Path]) -> dict:
    """The card entry of one export: its files' sha256 and what it was made from."""
    import importlib.metadata as md

    entry = {"file": paths[0].name, "sha256": sha256_file(paths[0])}
    if len(paths) > 1:
        entry["data_file"], entry["data_sha256"] = paths[1].name, sha256_file(paths[1])
    entry.update(source_sha256=bundle.card["weights"]["sha256"], batch="dynamic",
                 imgsz=bundle.grid.tile_px,
                 made_with=f"ultralytics {md.version('ultralytics')}, torch {md.version('torch')}"
                 + (f", openvino {md.version('openvino')}" if len(paths) > 1 else ""))
    return entry
