"""The `explain`, `featuremaps` and `report` commands, registered on cli.py's app.

Imported at the end of cli.py; it uses cli.py's error handling, so bad input prints one `error:`
line and exits 2 (usage) or 1 (anything else), as every other command does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnzoo.cli import RunArgument, RunsArgument, _fail, _needs_tensorflow, app
from cnnzoo.errors import CnnzooError

OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Folder for the pictures (default: inside the run)."),
]


@app.command()
@_needs_tensorflow
def explain(
    run_dir: RunArgument,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="Layer to explain (default: the last convolutional stage)."),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Classes to show per image.", min=1)] = 3,
    output: OutputOption = None,
    grid: Annotated[bool, typer.Option("--grid", help="All images in one grid picture.")] = False,
) -> None:
    """Top classes and a Grad-CAM heatmap per image: PNG plus the heatmap's values as .npy."""
    try:
        from cnnzoo.explain_run import explain_images

        report = explain_images(run_dir, images, layer, top_k, output, grid)
    except CnnzooError as error:
        _fail(error)
    for item in report.explanations:
        ranked = ", ".join(f"{name} {prob:.3f}" for name, prob in item.top)
        typer.echo(f"{item.path}: {ranked}")
    if report.explanations:
        first = report.explanations[0]
        pictures = report.grid or first.picture
        typer.echo(f"Grad-CAM at layer {first.layer}; wrote {pictures.parent}/ (PNG and .npy)")
    for path, reason in report.failures:
        typer.secho(f"error: {path}: {reason}", fg=typer.colors.RED, err=True)
    if report.failures:
        raise typer.Exit(1)


@app.command()
@_needs_tensorflow
def featuremaps(
    run_dir: RunArgument,
    image: Annotated[Path, typer.Argument(help="One image file.")],
    layer: Annotated[
        list[str] | None,
        typer.Option("--layer", help="Layer to show (repeatable; default: each conv stage)."),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Activation maps of one image through the network, and the first layer's filters."""
    try:
        from cnnzoo.explain_run import feature_maps

        result = feature_maps(run_dir, image, layer or [], output)
    except CnnzooError as error:
        _fail(error)
    typer.echo(f"Layers: {', '.join(result.layers)}")
    for path in result.files:
        typer.echo(f"Wrote {path}")


@app.command()
def report(
    run_dirs: RunsArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="HTML file (default: RUN/report.html, ./report.html for several).",
        ),
    ] = None,
    gradcam: Annotated[
        bool,
        typer.Option(help="Grad-CAM of the saved mistakes (loads the model and TensorFlow)."),
    ] = True,
) -> None:
    """One self-contained HTML page per run (or comparing several runs); opens offline."""
    try:
        from cnnzoo.report import write_report

        path = write_report(run_dirs, output, gradcam=gradcam)
    except CnnzooError as error:
        _fail(error)
    typer.echo(f"Wrote {path}")
