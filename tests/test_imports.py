"""Import hygiene read from the source: the layer table, no import cycle, Keras internals in one
module, and run-folder readers that start without TensorFlow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnzoo"
COMPAT = "cnnzoo.utils.keras_compat"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


# The layers, each over the ones it builds on directly: a subpackage may import those, what they
# may import, itself and the top-level `cnnzoo`, `if TYPE_CHECKING:` imports included; nothing
# imports `cli` but `cnnzoo.__main__`. The README's "Development" section draws the same table.
BUILDS_ON = {
    "utils": set(),  # leaves: errors, atomic writes, processes, registry, Keras compatibility
    "datasets": {"utils"},  # dataset plugins: their `data:` section and a seed, no Config
    "models": {"utils"},  # architectures: input shape, classes, options
    "config": {"datasets", "models"},  # the YAML schema; no TensorFlow
    "data": {"config"},  # the tf.data input side
    "runs": {"config"},  # the run folder; no TensorFlow
    "visualization": {"runs"},  # pictures: arrays and histories in, image files out
    "evaluation": {"data", "visualization"},  # metrics, mistakes, predictions, leaderboard
    "explain": {"evaluation"},  # Grad-CAM and feature maps
    "report": {"explain"},  # the HTML page
    "engine": {"data", "visualization"},  # training; never evaluation or the page
    "sweep": {"engine", "evaluation"},
    "cli": {"sweep", "report"},
}


def _below(layer: str) -> set[str]:
    """Every layer `layer` may import: those it builds on, and theirs."""
    found: set[str] = set()
    for lower in BUILDS_ON[layer]:
        found |= {lower, *_below(lower)}
    return found


LOWER = {layer: _below(layer) for layer in BUILDS_ON}


def _layer(module: str) -> str | None:
    """The subpackage `module` belongs to (`cnnzoo.engine.training` -> "engine"), None for the
    top-level `cnnzoo` package and `cnnzoo.__main__`."""
    parts = module.split(".")
    return None if len(parts) == 1 or module == "cnnzoo.__main__" else parts[1]


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node, except what sits under `if TYPE_CHECKING:` (never imported at run time)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)
    return nodes


def _imported(module: str, tree: ast.AST, typing_too: bool = False) -> set[str]:
    """Every module `module` imports, at the top or inside a function (and under
    `if TYPE_CHECKING:` with `typing_too`)."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree) if typing_too else _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import module` depends on that module; `from module import name` on it.
            modules = {f"{base}.{alias.name}" for alias in node.names} & set(MODULES)
            found.update(modules or {base})
    return found


def _graph(typing_too: bool = False) -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = _imported(module, tree, typing_too)
        graph[module] = {name for name in found if name in MODULES} - {module}
    return graph


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every edge the layer table does not allow, as "module -> module"."""
    wrong = []
    for module, targets in sorted(graph.items()):
        source = _layer(module)
        for target in sorted(targets):
            layer = _layer(target)
            if layer is None or layer == source:
                continue
            if module == "cnnzoo.__main__" and layer == "cli":
                continue
            if source not in LOWER or layer not in LOWER:
                wrong.append(f"{module} -> {target} (not in the layer table)")
            elif layer not in LOWER[source]:
                wrong.append(f"{module} -> {target}")
    return wrong


def test_every_module_sits_in_a_layer_of_the_table() -> None:
    layers = {_layer(module) for module in MODULES} - {None}
    assert layers == set(LOWER), "add the new subpackage to LOWER, or remove it from LOWER"


def test_every_import_points_down_the_layer_table() -> None:
    assert _upward(_graph(typing_too=True)) == []


def test_the_layer_check_catches_a_planted_upward_import() -> None:
    graph = _graph(typing_too=True)
    planted = {
        **graph,
        "cnnzoo.runs.files": graph["cnnzoo.runs.files"] | {"cnnzoo.engine.training"},
    }
    assert _upward(planted) == ["cnnzoo.runs.files -> cnnzoo.engine.training"]
    # An import under `if TYPE_CHECKING:` counts: it is still a dependency of the reader.
    typing_only = ast.parse("if TYPE_CHECKING:\n    from cnnzoo.config.schema import Config\n")
    assert "cnnzoo.config.schema" in _imported("cnnzoo.datasets.catalog", typing_only, True)
    assert LOWER["engine"].isdisjoint({"evaluation", "report", "explain", "sweep", "cli"})
    assert not any("cli" in lower for lower in LOWER.values())


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_walker_sees_real_imports() -> None:
    graph = _graph()
    assert "cnnzoo.runs.files" in graph["cnnzoo.engine.training"]
    assert "cnnzoo.data.pipeline" in graph["cnnzoo.engine.training"]  # imported inside a function
    assert "cnnzoo.data.augment" in graph["cnnzoo.data.pipeline"]  # `from cnnzoo.data import`
    typing_only = ast.parse("if TYPE_CHECKING:\n    from cnnzoo import config\n")
    assert _imported("cnnzoo.datasets.catalog", typing_only) == set()
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package() -> None:
    cycle = _cycle(_graph(typing_too=True))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _keras_internals(tree: ast.AST) -> list[str]:
    """`keras.src` imports or names, and `_private` attributes read off anything but self/cls."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith("keras.src") else []
        elif isinstance(node, ast.Attribute) and node.attr == "src":
            names = [ast.unparse(node)] if ast.unparse(node.value) == "keras" else []
        found += [f"line {node.lineno}: {name}" for name in names if name.startswith("keras.src")]
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = ast.unparse(node.value)
            if not node.attr.startswith("__") and owner not in ("self", "cls"):
                found.append(f"line {node.lineno}: {owner}.{node.attr}")
    return found


@pytest.mark.parametrize("module", sorted(set(MODULES) - {COMPAT}))
def test_keras_internals_only_in_keras_compat(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    assert _keras_internals(tree) == [], f"move these into {COMPAT}"


def test_the_internals_check_catches_them() -> None:
    code = (
        "import keras.src.backend\n"
        "from keras.src.backend.tensorflow import trainer\n"
        "model._maybe_symbolic_build = None\n"
        "importlib.import_module('keras.src.callbacks')\n"
        "self._own = 1\n"
    )
    assert len(_keras_internals(ast.parse(code))) == 4
    compat = ast.parse(MODULES[COMPAT].read_text(encoding="utf-8"))
    assert _keras_internals(compat)  # the one module where they live


def _top_level_imports(module: str) -> set[str]:
    """What importing `module` imports at once (not inside functions), cnnzoo modules followed."""
    seen, todo, outside = set(), [module], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = ast.parse(MODULES[current].read_text(encoding="utf-8"))
        body = ast.Module(
            body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
            type_ignores=[],
        )
        for name in _imported(current, body):
            if name in MODULES:
                todo.append(name)
            elif not name.startswith("cnnzoo"):
                outside.add(name.split(".")[0])
    return outside


@pytest.mark.parametrize(
    "module",
    ["cnnzoo.evaluation.compare", "cnnzoo.runs.folder", "cnnzoo.runs.files", "cnnzoo.runs.resume"],
)
def test_run_folder_readers_start_without_matplotlib_or_tensorflow(module: str) -> None:
    heavy = _top_level_imports(module) & {"matplotlib", "tensorflow", "keras"}
    assert heavy == set(), f"{module} imports {heavy} when imported"
    assert "matplotlib" in _top_level_imports("cnnzoo.visualization.plots")  # the check sees them
