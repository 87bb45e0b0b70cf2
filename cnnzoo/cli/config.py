"""`cnnzoo config list | show | validate`: the shipped configs and checking config files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnzoo.cli.common import SetOption

config_app = typer.Typer(
    help="List the shipped configs; show and check config files.", no_args_is_help=True
)

ConfigArgument = Annotated[
    Path, typer.Argument(help="YAML config file, or a shipped config's name (cnnzoo config list).")
]


@config_app.command("list")
def config_list() -> None:
    """List the configs shipped with cnnzoo: train one with `cnnzoo train -c NAME`."""
    from cnnzoo.config.files import description, shipped_configs

    shipped = shipped_configs()
    width = max(len(name) for name in shipped)
    for name, path in shipped.items():
        typer.echo(f"{name:<{width}}  {description(path)}")


@config_app.command("show")
def config_show(
    file: ConfigArgument,
    set_: SetOption = None,
    source: Annotated[
        bool, typer.Option("--source", help="Print the file as written (with its comments).")
    ] = False,
) -> None:
    """Print the resolved config (the file, its bases, overrides and every default)."""
    from cnnzoo.config.files import find_config
    from cnnzoo.config.schema import load_config, to_yaml

    if source:
        if set_:
            from cnnzoo.utils.errors import ConfigError

            raise ConfigError("--source prints the file as written; drop --set.")
        typer.echo(find_config(file).read_text(encoding="utf-8"), nl=False)
    else:
        typer.echo(to_yaml(load_config(file, set_ or [])), nl=False)


@config_app.command("validate")
def config_validate(
    files: Annotated[
        list[Path], typer.Argument(help="YAML config files or shipped configs' names.")
    ],
    set_: SetOption = None,
) -> None:
    """Check config files as `cnnzoo train` does before it starts, without TensorFlow; exit 2 on
    the first bad one."""
    from cnnzoo.engine.preflight import load_new_run_config

    for file in files:
        load_new_run_config(file, set_ or [])
        typer.echo(f"{file}: ok")
