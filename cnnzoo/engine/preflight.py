"""The one check of a config for new work, before TensorFlow starts and any folder exists.

`cnnzoo.config.schema.load_config` checks what a config says (its schema and the keys that must
agree);
`check_new_run` adds what the config names on disk that a new run reads and the schema cannot
see: the earlier run `train.init_from` starts from. `load_new_run_config` is both, and it is
what `cnnzoo train`, `cnnzoo sweep` (its base config and every value its space can take),
`cnnzoo augment preview` and `cnnzoo config validate` call. A run folder's own config is read
with `load_config(saved=True)` alone, so a fine-tuned run stays readable once the run it
started from is gone. The folder a run will write is checked apart, with the output guard
(`cnnzoo.engine.run_record.check_new_run_dir`).
"""

from __future__ import annotations

from pathlib import Path

from cnnzoo.config.schema import Config, load_config, source_name
from cnnzoo.engine import init_from
from cnnzoo.utils.errors import ConfigError


def check_new_run(config: Config) -> None:
    """Raise a ConfigError for what `config` names on disk that a new run could not read."""
    if config.train.init_from:
        init_from.check_source(config.train.init_from)


def load_new_run_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load and validate a config as `load_config` does, then `check_new_run` it."""
    config = load_config(path, overrides)
    try:
        check_new_run(config)
    except ConfigError as error:
        raise ConfigError(f"{source_name(path, overrides)}: {error}") from None
    return config
