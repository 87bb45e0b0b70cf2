"""The `cnnzoo` command line: parse, load the config, call one library function, report.

This is the only module that imports Typer. TensorFlow is imported lazily inside the commands
that need it, so `cnnzoo --help` and `cnnzoo config validate` stay fast.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
augment_app = typer.Typer(help="Look at the training augmentation.", no_args_is_help=True)
app.add_typer(augment_app, name="augment")

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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Print cnnzoo's own warnings as one `warning:` line; others keep Python's format."""
    if category.__module__.startswith("cnnzoo"):
        typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def _needs_tensorflow(command: Callable[..., None]) -> Callable[..., None]:
    """Import TensorFlow before `command` runs, dropping its native start-up lines from stderr.

    (`train` and `download` filter around their own imports, so their progress is never held back.)
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from cnnzoo.native_logs import quiet_native_logs

        with quiet_native_logs():
            import tensorflow as tf

            tf.config.list_physical_devices()
        command(*args, **kwargs)

    return run


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
    warnings.showwarning = _show_warning


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
            from cnnzoo.resume import resume_config

            cfg = resume_config(resume, config, set_ or [])
        else:
            cfg = load_config(config, set_ or [])
        from cnnzoo.native_logs import quiet_native_logs

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


@app.command()
def download(
    dataset: Annotated[
        str | None,
        typer.Argument(
            help="mnist or monkeys (default: the config's data.dataset).", show_default=False
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
        str | None, typer.Option("--url", help="MNIST only: download from here.")
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="MNIST only: the file's expected SHA-256.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Download a dataset into the cache folder: MNIST from Keras' mirror, monkeys from Kaggle."""
    from cnnzoo.config import load_config
    from cnnzoo.data.download import download_dataset
    from cnnzoo.errors import ConfigError

    try:
        data = load_config(config).data if config else None
        name = dataset or (data.dataset if data else None)
        if name is None:
            raise ConfigError("Name the dataset to download (mnist or monkeys), or pass --config.")
        result = download_dataset(
            name, data, data_dir=data_dir, force=force, url=url, sha256=sha256, progress=not quiet
        )
    except CnnzooError as error:
        _fail(error)
    if result.fetched:
        typer.echo(f"Downloaded {name} to {result.path}")
    else:
        typer.echo(f"{name} is already at {result.path}; nothing to do (--force downloads again).")


@augment_app.command("preview")
@_needs_tensorflow
def augment_preview(
    config: ConfigOption,
    set_: SetOption = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path(
        "augment_preview.png"
    ),
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, max=32, help="Training images to show.")
    ] = 4,
    samples: Annotated[
        int, typer.Option("--samples", min=1, max=16, help="Augmented versions of each.")
    ] = 5,
) -> None:
    """Save a PNG grid of training images beside augmented versions of them."""
    from cnnzoo.config import load_config

    try:
        cfg = load_config(config, set_ or [])
        from cnnzoo.data.preview import save_preview

        path = save_preview(cfg, output, count=count, samples=samples)
    except CnnzooError as error:
        _fail(error)
    typer.echo(f"Augment preview: {path}")


RunArgument = Annotated[Path, typer.Argument(help="Run folder written by `cnnzoo train`.")]
RunsArgument = Annotated[list[Path], typer.Argument(help="Run folders written by `cnnzoo train`.")]


@app.command()
@_needs_tensorflow
def evaluate(
    run_dir: RunArgument,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Dataset file or folder (default: the one the run used)."),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split", help="test, validation or train (default: MNIST test, else validation)."
        ),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="k for top-k accuracy.", min=1)] = 5,
) -> None:
    """Evaluate a trained run on a held-out split; write metrics and tables into the run folder."""
    try:
        from cnnzoo.evaluation import evaluate_run, format_report

        result = evaluate_run(run_dir, split, data, top_k)
    except CnnzooError as error:
        _fail(error)
    typer.echo(format_report(result))
    typer.echo(f"\nWrote: {', '.join(path.name for path in result.files)} in {result.run_dir}")


@app.command()
@_needs_tensorflow
def predict(
    run_dir: RunArgument,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    top_k: Annotated[int, typer.Option("--top-k", help="Classes to show per image.", min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Predict classes for images; exit 1 if any file could not be read (others still predicted)."""
    import json

    try:
        from cnnzoo.predict import predict_images

        report = predict_images(run_dir, images, top_k)
    except CnnzooError as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif report.predictions:
        typer.echo(report.to_text())
    for path, reason in report.failures:
        typer.secho(f"error: {path}: {reason}", fg=typer.colors.RED, err=True)
    if report.failures:
        raise typer.Exit(1)


@app.command()
def plot(
    run_dirs: RunsArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Curves file (default: RUN/history.png, or ./comparison.png for several runs).",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="png or svg.")] = "png",
) -> None:
    """Redraw training curves (several runs overlaid) and confusion heatmaps; works mid-training."""
    try:
        from cnnzoo.plots import draw_run_plots

        written = draw_run_plots(run_dirs, output, fmt)
    except CnnzooError as error:
        _fail(error)
    for path in written:
        typer.echo(f"Wrote {path}")


@app.command()
@_needs_tensorflow
def compare(
    run_dirs: RunsArgument,
    fmt: Annotated[str, typer.Option("--format", help="table, markdown or csv.")] = "table",
    sort: Annotated[
        str,
        typer.Option("--sort", help="Column to rank by, best first (e.g. test_accuracy)."),
    ] = "best_val_accuracy",
) -> None:
    """Print a leaderboard of runs: size, cost, speed and accuracy."""
    try:
        from cnnzoo.compare import format_leaderboard, leaderboard

        typer.echo(format_leaderboard(leaderboard([str(p) for p in run_dirs], sort), fmt))
    except CnnzooError as error:
        _fail(error)


@app.command()
@_needs_tensorflow
def export(
    run_dir: RunArgument,
    fmt: Annotated[str, typer.Option("--format", help="savedmodel, tflite or onnx.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Destination (default: RUN/export/).")
    ] = None,
) -> None:
    """Export a run's model for serving and check it against the .keras model."""
    try:
        from cnnzoo.export import export_run

        result = export_run(run_dir, fmt, output)
    except CnnzooError as error:
        _fail(error)
    typer.echo(f"Exported {result.format}: {result.path}")
    if result.max_difference is None:
        typer.echo("Not checked: install onnxruntime to compare it with the .keras model.")
    else:
        typer.echo(f"Max |probability difference| vs model.keras: {result.max_difference:.2e}")


INCEPTION_TABLE = "inception-table"


@app.command("models")
@_needs_tensorflow
def models(
    name: Annotated[
        str | None,
        typer.Argument(
            help=f"A model to show layer by layer, or {INCEPTION_TABLE} for the chapter's "
            "Inception-block table. Omit to list every model.",
            show_default=False,
        ),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input-shape",
            help="HEIGHT,WIDTH,CHANNELS, e.g. 28,28,1 (default: each model's reference input).",
        ),
    ] = None,
    num_classes: Annotated[
        int | None,
        typer.Option("--num-classes", min=1, help="Output classes (default: the model's own)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", help="A builder option KEY=VALUE, e.g. resize_to=224 (repeatable)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List the models with their papers, parameters and multiply-adds, or inspect one."""
    import json

    from cnnzoo.errors import ConfigError
    from cnnzoo.models import parse_input_shape, parse_option

    try:
        shape = parse_input_shape(input_shape) if input_shape else None
        options = dict(parse_option(text) for text in option or [])
        if name in (None, INCEPTION_TABLE) and options:
            raise ConfigError(
                "--option needs a model NAME, e.g. cnnzoo models alexnet --option ..."
            )
        if name not in (None, INCEPTION_TABLE):
            shape, options = _checked_model(name, shape, options)

        from cnnzoo import inspection

        if name == INCEPTION_TABLE:
            rows = inspection.inception_table()
            result, text = rows, inspection.format_inception_table(rows)
        elif name is None:
            entries = inspection.list_models(shape, num_classes)
            result, text = entries, inspection.format_listing(entries)
        else:
            stats = inspection.describe(name, shape, num_classes, options)
            result, text = stats.to_dict(), inspection.format_model(stats)
    except CnnzooError as error:
        _fail(error)
    typer.echo(json.dumps(result, indent=2) if as_json else text)


def _checked_model(
    name: str, shape: tuple[int, int, int] | None, options: dict[str, object]
) -> tuple[tuple[int, int, int], dict[str, object]]:
    """Validate a model, input shape and options exactly as a config's data and model sections."""
    from cnnzoo.config import resolve
    from cnnzoo.models import MODELS

    height, width, channels = shape or MODELS.get(name).default_input_shape
    data = {"image_size": [height, width], "channels": channels}
    config = resolve({"data": data, "model": {"name": name, **options}}, "cnnzoo models")
    return config.image_shape, config.model.options


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("Interrupted.", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)
