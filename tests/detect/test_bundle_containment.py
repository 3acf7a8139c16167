"""Finding 9 of issue 29: every file a card names resolves inside the bundle, and the checksum
is verified on the file the runtime actually loads."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from poppyscan.detect import backends
from poppyscan.detect.bundle import default_bundle_path, load_bundle
from poppyscan.errors import ModelError


def _copy(tmp_path, edit) -> tuple:
    """The bundled model copied to tmp_path/bundle with its card edited: (folder, card path)."""
    folder = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), folder)
    card_path = folder / "card.yaml"
    card = yaml.safe_load(card_path.read_text())
    edit(card)
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    return folder, card_path


def _outside(card) -> None:
    card["exports"]["onnx"]["file"] = "../outside/weights.onnx"


@pytest.mark.parametrize("decoy", [True, False])
def test_an_export_path_outside_the_bundle_is_refused(tmp_path, decoy):
    """Issue: the outside file loaded while the sha256 ran on a same-named decoy inside; without
    the decoy, detect died with a bare StopIteration."""
    folder, card_path = _copy(tmp_path, _outside)
    (tmp_path / "outside").mkdir()
    shutil.copy(folder / "weights.onnx", tmp_path / "outside" / "weights.onnx")
    if not decoy:
        (folder / "weights.onnx").unlink()
    with pytest.raises(ModelError) as err:
        load_bundle(folder)
    assert str(err.value) == (f"{card_path}: exports.onnx.file '../outside/weights.onnx' lies "
                              "outside the bundle folder; a card may name only a file beside it")


def test_detect_with_such_a_card_is_one_line(tmp_path):
    folder, card_path = _copy(tmp_path, _outside)
    run = subprocess.run([sys.executable, "-m", "poppyscan", "model", "info", "--model",
                          str(folder)], capture_output=True, text=True)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "lies outside the bundle" in run.stderr


@pytest.mark.parametrize("value", ["/etc/passwd", "", None, "a\0b", 7])
def test_every_named_file_must_be_a_plain_name_inside(tmp_path, value):
    folder, _ = _copy(tmp_path, lambda card: card["exports"]["openvino"].update(data_file=value))
    with pytest.raises(ModelError, match=r"exports\.openvino\.data_file"):
        load_bundle(folder)


def test_the_checksum_runs_on_the_bin_openvino_loads(tmp_path):
    """A card naming a decoy data_file must not let a replaced weights.bin through."""
    def decoy(card):
        card["exports"]["openvino"]["data_file"] = "decoy.bin"

    folder, _ = _copy(tmp_path, decoy)
    shutil.copy(folder / "weights.bin", folder / "decoy.bin")
    bundle = load_bundle(folder)
    with pytest.raises(ModelError, match="is not weights.bin, the file OpenVINO loads"):
        backends._verify(bundle, folder / "weights.xml")


def test_a_replaced_export_is_caught_on_the_loaded_file(tmp_path):
    folder, _ = _copy(tmp_path, lambda card: None)
    (folder / "weights.bin").write_bytes(b"not the network")
    with pytest.raises(ModelError, match=r"weights.bin: sha256 does not match the card"):
        backends._verify(load_bundle(folder), folder / "weights.xml")
    backends._verify(load_bundle(folder), folder / "weights.onnx")  # the untouched one passes


def test_a_missing_export_is_one_clear_line(tmp_path):
    folder, _ = _copy(tmp_path, lambda card: None)
    (folder / "weights.onnx").unlink()
    bundle = load_bundle(folder)
    with pytest.raises(ModelError, match="export file missing|no current export"):
        backends.choose_backend("onnxruntime", "cpu", bundle)
    with pytest.raises(ModelError, match="export file missing"):
        backends._verify(bundle, folder / "weights.onnx")
