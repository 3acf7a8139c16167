"""Dependencies point one way: cli/service -> api -> train, field -> detect -> tiles.

synth needs only tiles; train and field are siblings that never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package folder -> poppyscan sub-packages it must never import
FORBIDDEN = {
    "tiles": {"detect", "train", "synth", "api", "cli", "service"},
    "synth": {"detect", "train", "api", "cli", "service"},
    "detect": {"train", "synth", "field", "api", "cli", "service"},
    "field": {"train", "synth", "api", "cli", "service"},
    "train": {"field", "api", "cli", "service"},
}


def _imports(path: Path) -> set[str]:
    """The poppyscan sub-packages a module imports (top-level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "poppyscan" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package):
    wrong = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package])
             for p in (ROOT / package).rglob("*.py")}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_modules_stay_small():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for folder in ("tiles", "detect", "field", "train", "synth", "poppyscan",
                           "service")
             if (ROOT / folder).is_dir() for p in (ROOT / folder).rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > 420} == {}
