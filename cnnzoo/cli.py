"""The `cnnzoo` command line: parse, load the config, call one library function, report.

This is the only module that imports Typer. TensorFlow is imported lazily inside the commands
that need it, so `cnnzoo --help` and `cnnzoo config validate` stay fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cnnzoo import __version__
from cnnzoo.errors import CnnzooError

app = typer.Typer(
    name="cnnzoo",
    help="Train the classic convolutional networks faithfully, from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and check config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_state = {"debug": False}

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="YAML config file.", show_default=False)
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value, e.g. train.epochs=5 (repeatable)."),
]


def _fail(error: CnnzooError) -> NoReturn:
    if _state["debug"]:
        raise error
    for line in str(error).splitlines() or [type(error).__name__]:
        typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
    raise typer.Exit(error.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug
    # Quieten TensorFlow's C++ start-up chatter unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@config_app.command("show")
def config_show(
    file: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: SetOption = None,
) -> None:
    """Print the resolved config: the file, its bases, overrides and every default."""
    from cnnzoo.config import load_config, to_yaml

    try:
        typer.echo(to_yaml(load_config(file, set_ or [])), nl=False)
    except CnnzooError as error:
        _fail(error)


@config_app.command("validate")
def config_validate(
    files: Annotated[list[Path], typer.Argument(help="YAML config files.")],
    set_: SetOption = None,
) -> None:
    """Check config files without importing TensorFlow; exit 2 on the first bad one."""
    from cnnzoo.config import load_config

    try:
        for file in files:
            load_config(file, set_ or [])
            typer.echo(f"{file}: ok")
    except CnnzooError as error:
        _fail(error)


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config file.", show_default=False),
    ] = None,
    set_: SetOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Run folder (default: a new one).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue this run folder from its last checkpoint (--set may raise "
            "train.epochs; --config, if given, must match the run).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train the model a config describes and write a run folder, or resume one."""
    from cnnzoo.config import load_config
    from cnnzoo.errors import ConfigError

    try:
        if resume is None and config is None:
            raise ConfigError("train needs --config FILE, or --resume RUN_DIR to continue a run.")
        if resume is not None and output is not None:
            raise ConfigError("--resume continues the run in RUN_DIR; drop --output.")
        if resume is not None:
            from cnnzoo.runs import resume_config

            cfg = resume_config(resume, config, set_ or [])
        else:
            cfg = load_config(config, set_ or [])
        from cnnzoo.devices import quiet_native_logs

        with quiet_native_logs():
            from cnnzoo.training import RunInterrupted, train_from_config
        try:
            run_dir = train_from_config(
                cfg, resume or output, resume=resume is not None, log=typer.echo
            )
        except RunInterrupted as stop:
            typer.secho(str(stop), fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(stop.exit_code) from None
    except CnnzooError as error:
        _fail(error)
    if run_dir is None:
        typer.echo("Worker finished; the chief task writes the run folder.")
    else:
        typer.echo(f"Run folder: {run_dir}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("Interrupted.", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)
