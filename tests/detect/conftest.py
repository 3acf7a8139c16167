import pytest

from poppyscan.detect.bundle import write_untrained_bundle


@pytest.fixture(scope="session")
def untrained_bundle(tmp_path_factory):
    """Random YOLO11n weights on a 128 px grid: for plumbing tests only."""
    return write_untrained_bundle(tmp_path_factory.mktemp("bundle"), tile_px=128, overlap_px=32,
                                  conf=0.01)
