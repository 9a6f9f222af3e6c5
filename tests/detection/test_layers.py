"""The detection package is layered, and no layer imports one above it.

From the bottom: the value types (``errors``, ``spec``, ``verdict``); then ``formats`` (bytes) and
``detectors`` (one detector each), which do not import each other; then ``device`` (the per-device
reference path); then ``fleet`` (the vectorised path, built on the device path's constants); then
the top-level modules (the engine, the state codec, explanations). The tests read the imports from
each module's syntax tree, including imports inside functions and under ``TYPE_CHECKING``, so a
lazy import cannot hide an upward dependency or a cycle.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import consumer.detection

PACKAGE = consumer.detection.__name__
ROOT = Path(consumer.detection.__file__).parent

#: the layer (rank, name) of each subpackage and of the top-level value modules; every other
#: top-level module is in the top layer. Layers of one rank are siblings.
LAYERS = {
    "errors": (0, "values"),
    "spec": (0, "values"),
    "verdict": (0, "values"),
    "formats": (1, "formats"),
    "detectors": (1, "detectors"),
    "device": (2, "device"),
    "fleet": (3, "fleet"),
}
TOP = (4, "top")


def _source(module: str) -> Path:
    path = ROOT.joinpath(*module.split(".")[2:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _modules() -> list[str]:
    """Every Python module of the package (the optional compiled kernel has no imports to read)."""
    names = [PACKAGE, *(info.name for info in pkgutil.walk_packages([str(ROOT)], prefix=f"{PACKAGE}."))]
    return sorted(name for name in names if _source(name).is_file())


def _layer(module: str) -> tuple[int, str]:
    """The layer's rank and name (two layers of one rank are siblings, which do not import each other)."""
    parts = module.split(".")[2:]
    return LAYERS.get(parts[0], TOP) if parts else TOP


def _imports(module: str, known: set[str]) -> set[str]:
    """The detection modules ``module`` imports (``from package import name`` counts as the
    submodule when ``name`` is one, else as the package)."""
    tree = ast.parse(_source(module).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return {name for name in found if name in known and name != module}


MODULES = _modules()
GRAPH = {module: _imports(module, set(MODULES)) for module in MODULES}


def test_the_package_has_the_four_subpackages_and_their_modules() -> None:
    assert {module.split(".")[2] for module in MODULES if module.count(".") >= 3} == {
        "detectors",
        "device",
        "fleet",
        "formats",
    }


@pytest.mark.parametrize("module", MODULES)
def test_every_detection_module_imports(module: str) -> None:
    assert importlib.import_module(module).__name__ == module


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_a_layer_above_its_own_or_a_sibling_layer(module: str) -> None:
    rank, name = _layer(module)
    upward = [
        imported
        for imported in sorted(GRAPH[module])
        if _layer(imported)[0] > rank or (_layer(imported)[0] == rank and _layer(imported)[1] != name)
    ]
    assert upward == [], f"{module} (layer {name}) imports {upward}"


def test_the_imports_between_detection_modules_have_no_cycle() -> None:
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = (*path[path.index(module) :], module)
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(GRAPH[module]):
            visit(imported, (*path, module))
        done.add(module)

    for module in MODULES:
        visit(module, ())
