"""`cnnzoo evaluate | predict | plot | compare | export`: the commands that read run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cnnzoo.cli.common import (
    ExportFormat,
    PlotFormat,
    RunArgument,
    RunsArgument,
    SortColumn,
    Split,
    TableFormat,
    needs_tensorflow,
    output_option,
)


@needs_tensorflow
def evaluate(
    run_dir: RunArgument,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Dataset file or folder (default: the one the run used). Other data gets its "
            "own files, named after it (evaluation-test-on-NAME.json); the run's own are kept.",
        ),
    ] = None,
    split: Annotated[
        Split | None,
        typer.Option("--split", help="Default: MNIST test, else validation.", show_default=False),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="k for top-k accuracy.", min=1)] = 5,
) -> None:
    """Evaluate a trained run on a held-out split; write metrics and tables into the run folder."""
    from cnnzoo.evaluation.evaluate import evaluate_run, format_report
    from cnnzoo.evaluation.mistakes import format_confused_pairs

    result = evaluate_run(run_dir, split.value if split else None, data, top_k)
    typer.echo(format_report(result))
    typer.echo(format_confused_pairs(result))
    typer.echo(f"\nWrote: {', '.join(path.name for path in result.files)} in {result.run_dir}")


@needs_tensorflow
def predict(
    run_dir: RunArgument,
    images: Annotated[
        list[Path],
        # readable=False: an unreadable file is reported by predict (one error line, the others
        # still predicted), not refused as a usage error.
        typer.Argument(help="Image files or folders of images.", readable=False),
    ],
    top_k: Annotated[int, typer.Option("--top-k", help="Classes to show per image.", min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Predict classes for images; exit 1 if any file could not be read (others still predicted).

    A folder's files are the ones training would read; those that are not images are skipped
    with a warning.
    """
    from cnnzoo.evaluation.predict import predict_images

    report = predict_images(run_dir, images, top_k)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif report.predictions:
        typer.echo(report.to_text())
    for path, reason in report.skipped:
        typer.secho(f"warning: {path}: skipped, {reason}", fg=typer.colors.YELLOW, err=True)
    for path, reason in report.failures:
        typer.secho(f"error: {path}: {reason}", fg=typer.colors.RED, err=True)
    if report.failures:
        raise typer.Exit(1)


def plot(
    run_dirs: RunsArgument,
    output: Annotated[
        Path | None,
        output_option(
            "Curves file (default: RUN/history.png, or ./comparison.png for several runs)."
        ),
    ] = None,
    fmt: Annotated[PlotFormat, typer.Option("--format", help="Image format.")] = PlotFormat.png,
) -> None:
    """Redraw training curves (several runs overlaid) and confusion heatmaps; works mid-training."""
    from cnnzoo.visualization.plots import draw_run_plots

    for path in draw_run_plots(run_dirs, output, fmt.value):
        typer.echo(f"Wrote {path}")


@needs_tensorflow
def compare(
    run_dirs: RunsArgument,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output.")] = TableFormat.table,
    sort: Annotated[
        SortColumn, typer.Option("--sort", help="Column to rank by, best first.")
    ] = SortColumn.best_val_accuracy,
) -> None:
    """Print a leaderboard of runs: size, cost, speed and accuracy."""
    from cnnzoo.evaluation.compare import format_leaderboard, leaderboard

    rows = leaderboard([str(path) for path in run_dirs], sort.value)
    typer.echo(format_leaderboard(rows, fmt.value))


@needs_tensorflow
def export(
    run_dir: RunArgument,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Export format.")],
    output: Annotated[Path | None, output_option("Destination (default: RUN/export/).")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an earlier export there (never a file cnnzoo did not write)."
        ),
    ] = False,
) -> None:
    """Export a run's model for serving and check it against the .keras model."""
    from cnnzoo.engine.export import export_run

    result = export_run(run_dir, fmt.value, output, force=force)
    typer.echo(f"Exported {result.format}: {result.path}")
    if result.max_difference is None:
        typer.echo("Not checked: install onnxruntime to compare it with the .keras model.")
    else:
        typer.echo(f"Max |probability difference| vs model.keras: {result.max_difference:.2e}")
