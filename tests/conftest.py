import os
from pathlib import Path

import pytest

# Tests never reach the network; keep Ultralytics quiet and local.
os.environ.setdefault("YOLO_OFFLINE", "1")

REAL = Path(__file__).parent / "data" / "real"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    return REAL
