"""`cnnzoo explain | featuremaps | report`: what a trained network looks at, and a run's page.

Registered in cli.py; its error handler turns a CnnzooError into one `error:` line and the exit
code (2 for a bad `--layer`, 1 for a missing run or an unreadable image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnzoo.cli.common import RunArgument, RunsArgument, needs_tensorflow, output_option


def _layer_names(value: str | list[str] | None) -> str | list[str] | None:
    """Refuse `--layer ""` while parsing (exit 2, before TensorFlow): a layer has a name."""
    for name in [value] if isinstance(value, str) else value or []:
        if not name.strip():
            raise typer.BadParameter(
                f"expected a layer's name (`cnnzoo models NAME` lists them), or no --layer for "
                f"the default. Received: {name!r}"
            )
    return value


OutputOption = Annotated[
    Path | None, output_option("Folder for the pictures (default: inside the run).")
]


@needs_tensorflow
def explain(
    run_dir: RunArgument,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer",
            help="Layer to explain (default: the last convolutional stage).",
            callback=_layer_names,
        ),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Classes to show per image.", min=1)] = 3,
    output: OutputOption = None,
    grid: Annotated[bool, typer.Option("--grid", help="All images in one grid picture.")] = False,
) -> None:
    """Top classes and a Grad-CAM heatmap per image: PNG plus the heatmap's values as .npy."""
    from cnnzoo.explain.apply import explain_images

    report = explain_images(run_dir, images, layer, top_k, output, grid)
    for item in report.explanations:
        ranked = ", ".join(f"{name} {prob:.3f}" for name, prob in item.top)
        typer.echo(f"{item.path}: {ranked}")
    if report.explanations:
        first = report.explanations[0]
        folder = first.heatmap_file.parent
        typer.echo(f"Grad-CAM at layer {first.layer}; wrote {folder}/ (PNG and .npy)")
    for path, reason in report.failures:
        typer.secho(f"error: {path}: {reason}", fg=typer.colors.RED, err=True)
    if report.failures:
        raise typer.Exit(1)


@needs_tensorflow
def featuremaps(
    run_dir: RunArgument,
    image: Annotated[Path, typer.Argument(help="One image file.")],
    layer: Annotated[
        list[str] | None,
        typer.Option(
            "--layer",
            help="Layer to show (repeatable; default: each conv stage).",
            callback=_layer_names,
        ),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Activation maps of one image through the network, and the first layer's filters."""
    from cnnzoo.explain.apply import feature_maps

    result = feature_maps(run_dir, image, layer or [], output)
    typer.echo(f"Layers: {', '.join(result.layers)}")
    for path in result.files:
        typer.echo(f"Wrote {path}")


def report(
    run_dirs: RunsArgument,
    output: Annotated[
        Path | None,
        output_option("HTML file (default: RUN/report.html, ./report.html for several)."),
    ] = None,
    gradcam: Annotated[
        bool,
        typer.Option(help="Grad-CAM of the saved mistakes (loads the model and TensorFlow)."),
    ] = True,
) -> None:
    """One self-contained HTML page per run (or comparing several runs); opens offline."""
    from cnnzoo.report.page import write_report

    typer.echo(f"Wrote {write_report(run_dirs, output, gradcam=gradcam)}")
