"""Config files as raw data: shipped configs by name, YAML, `extends:` and KEY=VALUE overrides.

The configs in `cnnzoo/configs/` travel with the package, so `cnnzoo train -c mnist_lenet` works
from any folder of any install; a path to a file works as well and wins over a shipped name.
Nothing here knows the schema: `cnnzoo.config.schema` validates what these functions return.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from cnnzoo.utils.errors import ConfigError
from cnnzoo.utils.registry import did_you_mean

SHIPPED_DIR = Path(__file__).parents[1] / "configs"

# YAML 1.1 (PyYAML's schema) reads 3e-4 and 1E5 as text; YAML 1.2 and every user read them as
# floats. The 1.1 forms (1.5, .5, 1.5e+3, .inf, .nan, 1:30.0) keep working.
_FLOAT = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_FLOAT_TAG = "tag:yaml.org,2002:float"


class DuplicateKeyError(yaml.MarkedYAMLError):
    """The same key twice in one mapping; `first` is the 1-based line of the first one."""

    def __init__(self, key: Any, first: int, node: yaml.Node) -> None:
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=node.start_mark)
        self.key, self.first, self.second = key, first, node.start_mark.line + 1


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue  # `<<:` merges may be overridden on purpose
            key = self.construct_object(key_node)
            if key in lines:
                raise DuplicateKeyError(key, lines[key], key_node)
            lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


Loader.yaml_implicit_resolvers = {
    first: [(tag, _FLOAT if tag == _FLOAT_TAG else regex) for tag, regex in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """Parse YAML text with cnnzoo's `Loader` (YAML 1.2 floats, no duplicate keys)."""
    return yaml.load(text, Loader=Loader)  # a SafeLoader: builds plain data only


def shipped_configs() -> dict[str, Path]:
    """The configs shipped with cnnzoo, by name (the file's stem), sorted."""
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.yaml"))}


def description(path: Path) -> str:
    """A config's one-line description: the first line of its leading comment."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.strip("# "):
            return line.strip("# ")
    return ""


def find_config(reference: str | Path, base: Path | None = None) -> Path:
    """The file `reference` names: a path (relative to `base`, if given) or a shipped name."""
    path = (base / reference) if base is not None else Path(reference)
    if path.exists():
        return path
    shipped = shipped_configs()
    bare = len(Path(reference).parts) == 1
    name = Path(reference).stem if Path(reference).suffix in (".yaml", ".yml") else str(reference)
    if bare and name in shipped:
        return shipped[name]
    hint = did_you_mean(name if bare else Path(reference).stem, list(shipped))
    if not bare or name != str(reference):
        raise ConfigError(f"Config file not found: {path}" + (f".{hint}" if hint else ""))
    raise ConfigError(
        f'No config file or shipped config named "{reference}".{hint} '
        "`cnnzoo config list` shows the shipped ones."
    )


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax problems into ConfigErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"Cannot read config file {path}: {error.strerror}") from None
    try:
        data = load_yaml(text)
    except DuplicateKeyError as error:
        raise ConfigError(
            f"{path}: {error.key!r} is set twice in the same section, at lines {error.first} "
            f"and {error.second}; keep one."
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None or data == {}:
        raise ConfigError(
            f"{path} is empty: it sets nothing to train. Start from a shipped config: "
            f"`cnnzoo config show NAME --source > {path}` (`cnnzoo config list` names them)."
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into `base` section by section; the override wins."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read `path` merged over the chain of files its `extends:` keys name."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"Config files extend each other in a cycle: {chain}")
    data = read_yaml(path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: extends: expected a file path, got {base_name!r}")
    try:
        base = find_config(base_name, path.parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: extends: {error}") from None
    return merge(read_with_bases(base, (*seen, path)), data)


def parse_assignment(
    text: str, flag: str = "--set", example: str = "train.epochs=5"
) -> tuple[str, Any]:
    """Split 'KEY=VALUE' and read the value as YAML (`5`, `null`, `modern`, `[0.8, 1.2]`)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} expects KEY=VALUE, e.g. {example}. Received: {text!r}")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except DuplicateKeyError as error:
        raise ConfigError(f"{flag} {key.strip()}: {error.key!r} is set twice; keep one.") from None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one `a.b=value` override to raw config data."""
    key, value = parse_assignment(assignment)
    result = copy.deepcopy(data)
    node = result
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value
    return result
