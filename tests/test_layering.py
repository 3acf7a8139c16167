"""Dependencies point one way: cli/service -> api -> train, field -> detect -> tiles -> base.

The base layer (``poppyscan/errors.py``, ``config``, ``atomic``, ``output_folder``,
``provenance``, ``progress``, ``user_files``) serves every package and imports only itself. ``synth`` needs only ``tiles``;
``train`` and ``field`` are siblings that never import each other; ``scripts/`` are tools over the
API and the packages, never over the command line or the service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = {"errors", "config", "atomic", "output_folder", "provenance", "progress", "user_files"}
API = {"api", "api_field", "api_scoring", "api_verdicts"}
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


def _tree() -> list[Path]:
    """Every Python file of the checkout: packages, scripts, tests, configs (not .git, builds)."""
    def skipped(part: str) -> bool:
        return part.startswith(".") or part in ("build", "dist") or part.endswith(".egg-info")

    return sorted(p for p in ROOT.rglob("*.py")
                  if not any(skipped(part) for part in p.relative_to(ROOT).parts))


def test_modules_stay_small():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _tree()}
    assert "scripts/train_demo_model.py" in sizes and "tests/test_layering.py" in sizes
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}


MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_INTERNAL_PARAMETERS = 420, 60, 8


def _exported(tree: ast.Module) -> set[str] | None:
    """The module's ``__all__``, or None when it has none."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


def _functions(path: Path):
    """(name, node, public) of every function and method, nested ones included.

    Public: a library module's exported function, or a method of an exported class
    not named with an underscore (scripts and tests have no public functions).
    """
    tree = ast.parse(path.read_text())
    library = path.relative_to(ROOT).parts[0] not in ("scripts", "tests")
    names = _exported(tree)

    def exported(name: str) -> bool:
        """Public: in ``__all__``; in the library, without one, any name not starting with _
        (a test or script helper is public only when its module's ``__all__`` says so)."""
        if names is not None:
            return name in names
        return library and not name.startswith("_")

    def walk(node, public_class: bool | None):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                public = (exported(child.name) if public_class is None and node is tree
                          else bool(public_class) and not child.name.startswith("_"))
                yield child.name, child, public
                yield from walk(child, False)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, node is tree and exported(child.name))
            else:
                yield from walk(child, public_class)

    yield from walk(tree, None)


def _parameters(node: ast.FunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return len(names) - (names[:1] in (["self"], ["cls"]))


def _function_offenders() -> dict[str, str]:
    found = {}
    for path in _tree():
        for name, node, public in _functions(path):
            where = f"{path.relative_to(ROOT)}:{name}"
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found[where] = f"{lines} lines"
            elif not public and _parameters(node) > MAX_INTERNAL_PARAMETERS:
                found[where] = f"{_parameters(node)} parameters"
    return found


def test_functions_stay_short_and_narrow():
    """No function over 60 lines; no internal one over 8 parameters (the public API may keep
    its keywords, as pyogrio's read_dataframe does)."""
    assert _function_offenders() == {}


def test_the_function_rules_see_what_they_should():
    src = ROOT / "tests" / "test_layering.py"
    found = {name: public for name, _, public in _functions(src)}
    assert found["_functions"] is False and "walk" in found  # nested functions measured too
    bundle = {name: public for name, _, public in _functions(ROOT / "detect" / "bundle.py")}
    assert bundle["load_bundle"] and bundle["predictor"] and not bundle["_check_card"]
