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
    config: ConfigOption,
    set_: SetOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Run folder (default: a new one).")
    ] = None,
) -> None:
    """Train the model a config describes and write a run folder."""
    from cnnzoo.config import load_config

    try:
        cfg = load_config(config, set_ or [])
        from cnnzoo.training import train_from_config

        run_dir = train_from_config(cfg, output)
    except CnnzooError as error:
        _fail(error)
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
        from cnnzoo.data.augment import save_preview

        path = save_preview(cfg, output, count=count, samples=samples)
    except CnnzooError as error:
        _fail(error)
    typer.echo(f"Augment preview: {path}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("Interrupted.", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)


INCEPTION_TABLE = "inception-table"


@app.command("models")
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
