"""Dependencies point one way: cli/service -> api -> train, field -> detect -> tiles -> base.

The base layer (``poppyscan/errors.py``, ``config``, ``atomic``, ``output_folder``,
``provenance``) serves every package and imports only itself. ``synth`` needs only ``tiles``;
``train`` and ``field`` are siblings that never import each other; ``scripts/`` are tools over the
API and the packages, never over the command line or the service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = {"errors", "config", "atomic", "output_folder", "provenance"}
API = {"api", "api_scoring", "api_verdicts"}
# folder (or base module) -> the poppyscan sub-packages and base modules it may import
ALLOWED = {
    **{f"poppyscan/{name}.py": BASE for name in BASE},
    "tiles": BASE | {"tiles"},
    "synth": BASE | {"tiles", "synth"},
    "detect": BASE | {"tiles", "detect"},
    "field": BASE | {"tiles", "detect", "field"},
    "train": BASE | {"tiles", "detect", "train"},
    "scripts": BASE | API | {"tiles", "synth", "detect", "field", "train"},
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


def _modules(where: str) -> list[Path]:
    path = ROOT / where
    return [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("where", sorted(ALLOWED))
def test_dependencies_point_one_way(where):
    wrong = {str(p.relative_to(ROOT)): sorted(_imports(p) - ALLOWED[where])
             for p in _modules(where)}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_modules_stay_small():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for folder in ("tiles", "detect", "field", "train", "synth", "poppyscan",
                           "service")
             if (ROOT / folder).is_dir() for p in (ROOT / folder).rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > 420} == {}
