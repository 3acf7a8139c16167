"""The stages of ``scripts/train_demo_model.py``: surveys, datasets and training, scores.

The recipe they follow is ``configs/train/demo_recipe.yaml``
(:mod:`poppyscan.train.demo_recipe`); the card edits and held-out scoring are library code
(:mod:`poppyscan.train.demo_card`, :mod:`poppyscan.train.heldout`).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"  # the real poppy-free tiles
