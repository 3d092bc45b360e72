"""The package draws the pipeline: each layer imports only the layers below it, and no module
imports itself back through others, lazy imports (inside functions) included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rnnbench"

# Bottom to top. A module of a layer may import its own layer and the ones before it.
LAYERS = ("errors", "config", "data", "models", "training", "launch", "report", "study", "commands", "api", "cli")
TOP_LEVEL_MODULES = 12  # at most, files and packages directly in rnnbench/


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """The rnnbench modules that `path` imports anywhere in its code."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:  # `from rnnbench.training import record` imports a module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m not in (name, "rnnbench")}  # rnnbench: __version__


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "__main__":  # the package's own file reaches the API lazily
        return len(LAYERS)
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else -1


def test_every_module_has_a_layer():
    assert [name for name in MODULES if layer(name) < 0] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(name):
    above = sorted(target for target in GRAPH[name] if layer(target) > max(layer(name), 0))
    assert above == [], f"{name} ({LAYERS[layer(name)] if layer(name) < len(LAYERS) else 'rnnbench'}) imports {above}"


def test_no_import_cycles():
    cycles, done = [], set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycles.append(path[path.index(name) :] + [name])
            return
        if name in done:
            return
        for target in sorted(GRAPH[name]):
            visit(target, path + [name])
        done.add(name)

    for name in sorted(GRAPH):
        visit(name, [])
    assert cycles == [], "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_the_top_of_the_package_stays_small():
    top = [
        p.name
        for p in PACKAGE.iterdir()
        if not p.name.startswith("__") and (p.suffix == ".py" or (p / "__init__.py").is_file())
    ]
    assert len(top) <= TOP_LEVEL_MODULES, sorted(top)
