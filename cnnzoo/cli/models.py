"""`cnnzoo models`: the registered architectures, their options, sizes and costs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cnnzoo.cli.common import needs_tensorflow

INCEPTION_TABLE = "inception-table"


@needs_tensorflow
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
    """List the models with their papers, options, parameters and multiply-adds, or inspect one."""
    from cnnzoo.config.files import parse_assignment
    from cnnzoo.evaluation import inspection
    from cnnzoo.models import parse_input_shape
    from cnnzoo.utils.errors import ConfigError

    shape = parse_input_shape(input_shape) if input_shape else None
    options = dict(parse_assignment(text, "--option", "resize_to=224") for text in option or [])
    if name in (None, INCEPTION_TABLE) and options:
        raise ConfigError("--option needs a model NAME, e.g. cnnzoo models alexnet --option ...")
    if name == INCEPTION_TABLE:
        rows = inspection.inception_table()
        result, text = rows, inspection.format_inception_table(rows)
    elif name is None:
        entries = inspection.list_models(shape, num_classes)
        result, text = entries, inspection.format_listing(entries)
    else:
        shape, options = _checked_model(name, shape, options)
        stats = inspection.describe(name, shape, num_classes, options)
        result, text = stats.to_dict(), inspection.format_model(stats)
    typer.echo(json.dumps(result, indent=2) if as_json else text)


def _checked_model(
    name: str, shape: tuple[int, int, int] | None, options: dict[str, object]
) -> tuple[tuple[int, int, int], dict[str, object]]:
    """Validate a model, input shape and options exactly as a config's data and model sections."""
    from cnnzoo.config.schema import resolve
    from cnnzoo.models import MODELS

    height, width, channels = shape or MODELS.get(name).default_input_shape
    data = {"image_size": [height, width], "channels": channels}
    config = resolve({"data": data, "model": {"name": name, **options}}, "cnnzoo models")
    return config.image_shape, config.model.options
