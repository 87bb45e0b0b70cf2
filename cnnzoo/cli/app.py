"""The `cnnzoo` command line: parse, load the config, call one library function, report.

The command modules (`cli_config`, `cli_models`, `cli_runs`, `cli_explain`) are registered
here, the only place with the Typer app. Every command's errors go through one handler,
`cli_common.Commands` (what becomes which `error:` line and exit code is described there).
TensorFlow is imported lazily inside the commands that need it, so `cnnzoo --help` and
`cnnzoo config validate` stay fast.
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from cnnzoo import __version__
from cnnzoo.cli import config as cli_config
from cnnzoo.cli import explain as cli_explain
from cnnzoo.cli import models as cli_models
from cnnzoo.cli import runs as cli_runs
from cnnzoo.cli import sweep as cli_sweep
from cnnzoo.cli.common import Commands, ConfigOption, SetOption, needs_tensorflow, state
from cnnzoo.utils.errors import ConfigError

app = typer.Typer(
    name="cnnzoo",
    cls=Commands,
    help="Train the classic convolutional networks faithfully, from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
augment_app = typer.Typer(help="Look at the training augmentation.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnzoo {__version__}")
        raise typer.Exit()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Print cnnzoo's own warnings as one `warning:` line; others keep Python's format."""
    if category.__module__.startswith("cnnzoo"):
        typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    state["debug"] = debug
    # Quieten TensorFlow's C++ start-up chatter unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.showwarning = _show_warning


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML config file, or a shipped config's name (cnnzoo config list).",
            show_default=False,
        ),
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
    if resume is None and config is None:
        raise ConfigError("train needs --config FILE, or --resume RUN_DIR to continue a run.")
    if resume is not None and output is not None:
        raise ConfigError("--resume continues the run in RUN_DIR; drop --output.")
    if resume is not None:
        from cnnzoo.runs.resume import resume_config

        cfg = resume_config(resume, config, set_ or [])
    else:
        from cnnzoo.engine.preflight import load_new_run_config
        from cnnzoo.engine.run_record import check_new_run_dir

        cfg = load_new_run_config(config, set_ or [])
        check_new_run_dir(cfg, output)  # before the data is read and TensorFlow starts
    from cnnzoo.engine import timings
    from cnnzoo.utils.native_logs import filtered_stderr, quiet_native_logs

    timings.mark("config checked")
    with quiet_native_logs(), timings.phase("imports"):
        from cnnzoo.engine.training import RunInterrupted, train_from_config
    try:
        with filtered_stderr():
            run_dir = train_from_config(
                cfg, resume or output, resume=resume is not None, log=typer.echo
            )
            if run_dir is not None:  # the chief: the run's page beside its files
                with timings.phase("report page"):
                    from cnnzoo.report.page import report_after_training

                    report_after_training(run_dir)
    except RunInterrupted as stop:
        typer.secho(str(stop), fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(stop.exit_code) from None
    if run_dir is None:
        typer.echo("Worker finished; the chief task writes the run folder.")
    else:
        typer.echo(f"Run folder: {run_dir}")


@app.command()
def download(
    dataset: Annotated[
        str | None,
        typer.Argument(
            help="mnist, monkeys or archive (default: the config's data.dataset).",
            show_default=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Cache folder (default: $CNNZOO_DATA_DIR or ~/.cache/cnnzoo)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if present.")] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Take data.data_dir, data.url and data.sha256 from here."
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="mnist and archive: download from here.")
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="mnist and archive: the file's SHA-256.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Download a dataset into the cache folder: MNIST from Keras' mirror, monkeys from Kaggle,
    archive from --url."""
    from cnnzoo.config.schema import load_config
    from cnnzoo.datasets.download import download_dataset

    data = load_config(config).data if config else None
    name = dataset or (data.dataset if data else None)
    if name is None:
        raise ConfigError("Name the dataset to download (e.g. mnist), or pass --config.")
    result = download_dataset(
        name, data, data_dir=data_dir, force=force, url=url, sha256=sha256, progress=not quiet
    )
    if result.fetched:
        typer.echo(f"Downloaded {name} to {result.path}")
    else:
        typer.echo(f"{name} is already at {result.path}; nothing to do (--force downloads again).")


@augment_app.command("preview")
@needs_tensorflow
def augment_preview(
    config: ConfigOption,
    set_: SetOption = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="PNG or SVG file: new, or an earlier preview.")
    ] = Path("augment_preview.png"),
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, max=32, help="Training images to show.")
    ] = 4,
    samples: Annotated[
        int, typer.Option("--samples", min=1, max=16, help="Augmented versions of each.")
    ] = 5,
) -> None:
    """Save a PNG grid of training images beside augmented versions of them."""
    from cnnzoo.data.preview import save_preview
    from cnnzoo.engine.preflight import load_new_run_config

    config = load_new_run_config(config, set_ or [])
    path = save_preview(config, output, count=count, samples=samples)
    typer.echo(f"Augment preview: {path}")


# The commands of the other modules, in the order `cnnzoo --help` lists them.
app.add_typer(cli_config.config_app, name="config")
app.add_typer(augment_app, name="augment")
app.command()(cli_runs.evaluate)
app.command()(cli_runs.predict)
app.command()(cli_runs.plot)
app.command()(cli_runs.compare)
app.command()(cli_runs.export)
app.command("models")(cli_models.models)
app.command()(cli_explain.explain)
app.command()(cli_explain.featuremaps)
app.command()(cli_explain.report)
app.command()(cli_sweep.sweep)


def main() -> None:
    """Console-script entry point."""
    atexit.register(_skip_teardown)  # registered first, so it runs after every other handler
    try:
        app(prog_name="cnnzoo")
    except KeyboardInterrupt:
        typer.secho("Interrupted.", fg=typer.colors.YELLOW, err=True)
        _exit_code["code"] = 130
        sys.exit(130)
    except SystemExit as done:
        _exit_code["code"] = done.code
        raise


_exit_code: dict[str, object] = {}  # how main() ended, for _skip_teardown


def _skip_teardown() -> None:
    """After the exit handlers, end the process without the interpreter's teardown once
    TensorFlow is loaded: its objects' destructors take seconds after the command has finished
    (scripts/bench_startup.py, "exit after the last line"). Threads were joined and every exit
    handler has run, so nothing written is lost. Only when main() ended with an exit code."""
    code = _exit_code.get("code", "unknown")
    if "tensorflow" not in sys.modules or not (code is None or isinstance(code, int)):
        return
    from os import _exit as exit_now  # documented stdlib: exit without the interpreter's cleanup

    sys.stdout.flush()
    sys.stderr.flush()
    exit_now(code or 0)
