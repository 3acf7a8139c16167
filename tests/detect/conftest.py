import pytest

from detect._ultralytics import configure_offline


def make_untrained_bundle(out_dir, *, tile_px=128, gsd_m=0.05, overlap_px=32, conf=0.01):
    """A bundle with randomly initialised YOLO11n weights: for plumbing tests only."""
    configure_offline()
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from detect.bundle import write_bundle

    torch.manual_seed(0)
    model = DetectionModel("yolo11n.yaml", nc=1, verbose=False)
    model.names = {0: "poppy"}
    weights = out_dir / "random.pt"
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.half(), "train_args": {}, "date": None}, weights)
    card = {
        "name": "untrained-test", "model_id": "untrained-test-0", "architecture": "yolo11n",
        "classes": ["poppy"], "gsd_m": gsd_m, "tile_px": tile_px, "overlap_px": overlap_px,
        "thresholds": {"conf": conf, "iou_nms": 0.5, "merge_rule": "union"},
    }
    bundle = write_bundle(out_dir / "bundle", weights, card)
    weights.unlink()
    return bundle


@pytest.fixture(scope="session")
def untrained_bundle(tmp_path_factory):
    return make_untrained_bundle(tmp_path_factory.mktemp("bundle"))
