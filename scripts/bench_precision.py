"""OpenVINO on CPU at float32, bfloat16 and int8, side by side in one process.

    python3 scripts/bench_precision.py --model detect/models/poppy-demo --calibrate runs/real/tune_surveys

Forward rate (chips/s, batches of 8 through the predictor, NMS included) of the
bundle's OpenVINO export at f32 and bf16, and of an int8 copy made here by NNCF
post-training quantization (``pip install nncf``; skipped without it) on chips of
the ``--calibrate`` orthomosaics, with the detection head's box decoding left in
float (run at float32, and at bfloat16: ``int8+bf16``). Also: boxes per precision
on the same chips against f32, at conf 0.1. The held-out check that decides what
ships is ``train_demo_model.py precision``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEAD_FLOAT = [r"/model\.23/(Add|Sub|Mul|Div)(_\d+)?", r"/model\.23/dfl/.*"]  # box decoding


def orthos_of(paths: list[Path]) -> list[Path]:
    """The files named, and the surveys (``*/ortho.tif``) in the folders named."""
    return [p for path in paths for p in (sorted(path.glob("*/ortho.tif")) if path.is_dir() else [path])]


def chips_of(paths: list[Path], grid, n: int) -> np.ndarray:
    from poppyscan.tiles import iter_chips

    chips = []
    for chip in iter_chips(paths, grid):
        chips.append(chip.pixels)
        if len(chips) == n:
            break
    return np.stack(chips)


def quantize_int8(xml: Path, calibration: np.ndarray, out: Path, preset: str = "mixed") -> Path:
    """An int8 copy of the IR, calibrated on ``calibration`` chips (NNCF's ``preset``).

    ``mixed``: asymmetric activations (SiLU outputs dip below zero); ``performance``:
    symmetric everywhere, which int8 kernels run with the least work.
    """
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    model.reshape([1, 3, *calibration.shape[1:3]])
    dataset = nncf.Dataset(list(calibration),
                           lambda x: (x.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
    quantized = nncf.quantize(model, dataset, preset=nncf.QuantizationPreset(preset),
                              subset_size=len(calibration),
                              ignored_scope=nncf.IgnoredScope(patterns=HEAD_FLOAT, types=["Sigmoid"],
                                                              validate=False))
    ov.save_model(quantized, str(out))
    return out


def rate(predictor, chips: np.ndarray, batch: int = 8) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    boxes = [b for i in range(0, len(chips), batch) for b in predictor(chips[i:i + batch])]
    return len(chips) / (time.perf_counter() - start), boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "detect" / "models" / "poppy-demo")
    parser.add_argument("--calibrate", type=Path, nargs="+", required=True,
                        help="orthomosaics, or folders of surveys (*/ortho.tif), for int8 calibration")
    parser.add_argument("--test", type=Path, nargs="*", default=None,
                        help="orthomosaics timed [the calibration ones]")
    parser.add_argument("--chips", type=int, default=64, help="chips timed [64]")
    parser.add_argument("--calibration-chips", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--preset", choices=["mixed", "performance"], default="mixed",
                        help="NNCF quantization preset for the int8 copy [mixed]")
    args = parser.parse_args()

    from poppyscan.detect.backends import export_file
    from poppyscan.detect.backends.openvino_predictor import OpenVinoPredictor
    from poppyscan.detect.bundle import load_bundle

    bundle = load_bundle(args.model)
    xml = export_file(bundle, "openvino")
    if xml is None or xml.suffix != ".xml":
        raise SystemExit(f"{args.model}: no OpenVINO IR export; run export_bundle first")
    chips = chips_of(orthos_of(args.test or args.calibrate), bundle.grid, args.chips)
    predictors = {"f32": OpenVinoPredictor(xml, conf=0.1, precision="f32"),
                  "bf16": OpenVinoPredictor(xml, conf=0.1, precision="bf16")}
    with tempfile.TemporaryDirectory() as tmp:
        if importlib.util.find_spec("nncf"):
            int8 = quantize_int8(xml, chips_of(orthos_of(args.calibrate), bundle.grid,
                                               args.calibration_chips),
                                 Path(tmp) / "int8.xml", args.preset)
            predictors["int8"] = OpenVinoPredictor(int8, conf=0.1, precision="f32")
            # The layers left in float (the head's box decoding, sigmoids) at bfloat16
            predictors["int8+bf16"] = OpenVinoPredictor(int8, conf=0.1, precision="bf16")
        else:
            print("int8: skipped (pip install nncf)")
        for predictor in predictors.values():
            predictor(chips[:8])  # compile outside the timing
        rates: dict[str, list[float]] = {name: [] for name in predictors}
        boxes = {}
        for _ in range(args.repeat):  # interleaved, so load changes hit every precision alike
            for name, predictor in predictors.items():
                chips_s, boxes[name] = rate(predictor, chips)
                rates[name].append(chips_s)
    base = np.median(rates["f32"])
    print(f"{len(chips)} chips of {bundle.grid.tile_px} px, {bundle.model_id}, median of {args.repeat}")
    print("precision  runs   chips/s  vs f32  boxes  chips with another box count than f32")
    for name, predictor in predictors.items():
        differ = sum(len(a) != len(b) for a, b in zip(boxes[name], boxes["f32"], strict=True))
        print(f"{name:9s}  {predictor.precision:5s}  {np.median(rates[name]):7.1f}  "
              f"{np.median(rates[name]) / base:5.2f}x  {sum(map(len, boxes[name])):5d}  {differ}")


if __name__ == "__main__":
    main()
