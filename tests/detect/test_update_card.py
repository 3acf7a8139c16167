"""update_card: the one writer of an existing model card."""

from __future__ import annotations

import pytest
import yaml

from poppyscan.detect.bundle import load_bundle, update_card, write_bundle
from poppyscan.errors import ModelError

CARD = {"name": "t", "model_id": "t-1", "architecture": "yolo11n", "classes": ["poppy"],
        "gsd_m": 0.05, "tile_px": 640, "overlap_px": 128,
        "thresholds": {"conf": 0.25, "iou_nms": 0.5, "merge_rule": "union"}}


@pytest.fixture
def bundle_dir(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not a real checkpoint")
    return write_bundle(tmp_path / "bundle", weights, CARD).path


def test_update_card_writes_the_edit_and_keeps_the_weights(bundle_dir):
    before = load_bundle(bundle_dir).card["weights"]
    card = update_card(bundle_dir, lambda c: {**c, "heldout": {"recall": 0.9}})
    on_disk = yaml.safe_load((bundle_dir / "card.yaml").read_text())
    assert card == on_disk
    assert on_disk["heldout"] == {"recall": 0.9}
    assert on_disk["weights"] == before
    assert list(on_disk)[:3] == ["name", "model_id", "architecture"]  # order kept
    assert load_bundle(bundle_dir).card["heldout"] == {"recall": 0.9}  # sha256 still matches
    assert [p.name for p in bundle_dir.iterdir() if p.name.startswith(".")] == []


def test_update_card_refuses_a_card_load_bundle_would_refuse(bundle_dir):
    text = (bundle_dir / "card.yaml").read_text()
    with pytest.raises(ModelError, match=r"thresholds.conf=1.5 must be in \(0, 1\)"):
        update_card(bundle_dir, lambda c: {**c, "thresholds": {**c["thresholds"], "conf": 1.5}})
    with pytest.raises(ModelError, match="lacks classes"):
        update_card(bundle_dir, lambda c: {k: v for k, v in c.items() if k != "classes"})
    assert (bundle_dir / "card.yaml").read_text() == text


def test_update_card_names_a_folder_without_a_card(tmp_path):
    with pytest.raises(ModelError, match="model card missing"):
        update_card(tmp_path, lambda c: c)
