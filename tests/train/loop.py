"""Shared pieces of the build-train-evaluate tests: tiny grid, tiny config, no network."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from poppyscan.tiles import GridSpec

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "configs" / "train" / "tiny.yaml"
# 12.8 m chips at 10 cm: a few dozen chips per test survey, a second of training.
GRID = GridSpec(gsd_m=0.1, tile_px=128, overlap_px=32)


def tiny_config(**overrides) -> dict:
    """configs/train/tiny.yaml with ``overrides``."""
    return {**yaml.safe_load(TINY_CONFIG.read_text()), **overrides}


def block_network(monkeypatch) -> None:
    """Make any attempt to open an internet connection fail the test."""
    real_connect = socket.socket.connect

    def guarded(sock, address, *args, **kwargs):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(sock, address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def synthetic_survey(out_dir: Path):
    """A 77 m x 77 m synthetic survey at 10 cm with about 20 poppy plots."""
    from poppyscan.synth import generate_survey

    return generate_survey(out_dir, seed=3, size_px=(768, 768), gsd_m=0.1,
                           plot_density_per_ha=40, compress="deflate")
