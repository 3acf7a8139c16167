"""The examples in the library's docstrings run, imported under their installed ``poppyscan.*`` names.

(``pytest --doctest-modules tiles`` would import the checkout's folders a second time as
top-level ``tiles``, ``detect``...: the very names an installed poppyscan no longer owns.)
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ("poppyscan", "poppyscan.tiles", "poppyscan.synth", "poppyscan.detect",
            "poppyscan.field", "poppyscan.train")
if all(importlib.util.find_spec(m) for m in ("fastapi", "httpx", "segno")):  # the serve extra
    PACKAGES += ("poppyscan.service",)
SKIP = {"poppyscan.__main__"}  # importing it runs the command line


def library_modules() -> list[str]:
    """Every module of the library, subpackages included, by its installed name."""
    names = set(PACKAGES)
    for package in PACKAGES:
        path = importlib.import_module(package).__path__
        names.update(info.name for info in pkgutil.walk_packages(path, prefix=f"{package}."))
    return sorted(names - SKIP)


MODULES = library_modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        if test.filename and test.filename != module.__file__:
            continue  # re-exported from another module: tested there
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


def test_library_imports_without_torch():
    """Tiling, export and labels work without loading torch: it is imported where the model runs."""
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
