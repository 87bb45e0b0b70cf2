"""Training curves and confusion matrices, drawn headless with matplotlib (Agg)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from cnnzoo.runs.files import best_epoch  # noqa: E402
from cnnzoo.utils.errors import CnnzooError  # noqa: E402
from cnnzoo.utils.outputs import FIGURE_SUFFIXES, check_destination, save_figure  # noqa: E402

PLOT_FORMATS = tuple(suffix.lstrip(".") for suffix in FIGURE_SUFFIXES)  # png, svg
KIND = "plot"  # what `outputs` calls a picture this module draws (marked in its metadata)
History = list[dict[str, float]]


def _curve(rows: History, key: str) -> tuple[list[float], list[float]]:
    points = [(row["epoch"], row[key]) for row in rows if row.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _draw_run(axes, rows: History, colours: tuple[str, str]) -> None:
    """Draw one run's training (dashed) and validation (solid) curves and its best epoch."""
    best = best_epoch(rows)
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for key, style, colour in ((metric, "--", colours[0]), (f"val_{metric}", "-", colours[1])):
            epochs, values = _curve(rows, key)
            if epochs:
                axis.plot(epochs, values, style, color=colour, marker="o", markersize=3, lw=1.6)
        if best is None:
            continue
        epoch, key = best
        marked = f"val_{metric}" if key == "val_accuracy" else metric
        value = next((row.get(marked) for row in rows if row["epoch"] == epoch), None)
        axis.axvline(epoch, color=colours[1], linestyle=":", linewidth=1, alpha=0.7)
        if value is not None:
            axis.plot([epoch], [value], "*", color=colours[1], markersize=14, mec="black", mew=0.6)


def _legend_handles(labels: list[str], rows_per_run: list[History], overlaid: bool) -> list:
    handles = []
    if overlaid:
        for index, (label, rows) in enumerate(zip(labels, rows_per_run, strict=True)):
            best = best_epoch(rows)
            suffix = ""
            if best:
                value = next(row[best[1]] for row in rows if row["epoch"] == best[0])
                what = "val acc" if best[1] == "val_accuracy" else "acc"
                suffix = f", best epoch {best[0]} ({what} {value:.3f})"
            handles.append(Line2D([], [], color=f"C{index}", lw=2.5, label=label + suffix))
        handles.append(Line2D([], [], color="grey", ls="-", label="validation"))
        handles.append(Line2D([], [], color="grey", ls="--", label="training"))
    else:
        handles.append(Line2D([], [], color="C0", ls="--", marker="o", ms=3, label="training"))
        handles.append(Line2D([], [], color="C1", ls="-", marker="o", ms=3, label="validation"))
        best = best_epoch(rows_per_run[0])
        if best:
            what = "validation" if best[1] == "val_accuracy" else "training"
            label = f"best epoch {best[0]} ({what} accuracy)"
            handles.append(
                Line2D([], [], ls="", marker="*", ms=12, color="C1", mec="black", label=label)
            )
    return handles


def plot_curves(
    labels: Sequence[str], histories: Sequence[History], path: Path, title: str = ""
) -> Path:
    """Accuracy and loss per epoch for one or more runs, best epochs starred; save to `path`."""
    overlaid = len(histories) > 1
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for index, rows in enumerate(histories):
        colours = (f"C{index}", f"C{index}") if overlaid else ("C0", "C1")
        _draw_run(axes, rows, colours)
    last = max((row["epoch"] for rows in histories for row in rows), default=1)
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        axis.set_xlim(0.5, last + 0.5)  # whole epochs only, even for a run one epoch in
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric.capitalize())
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.grid(alpha=0.3)
    handles = _legend_handles(list(labels), list(histories), overlaid)
    # Below the axes, so that no curve is hidden behind it however many runs there are.
    figure.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)))
    if title:
        figure.suptitle(title)
    save_figure(figure, path, KIND, dpi=110)
    plt.close(figure)
    return path


def plot_history(rows: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Draw one run's accuracy and loss per epoch (training and validation) side by side."""
    return plot_curves([title or "run"], [rows], path, title)


def plot_confusion(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path, title: str = ""
) -> Path:
    """The confusion matrix as a heatmap (colour: share of the true class), counts written in."""
    counts = np.asarray(matrix, dtype=np.int64)
    num_classes = len(class_names)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    longest = max((len(name) for name in class_names), default=1)
    # Room for the labels: the cells get ~0.5 inch each, the names ~0.08 inch per character.
    side = max(4.5, 0.5 * num_classes + 1.5)
    margin = min(3.5, 0.08 * longest)
    figure, axis = plt.subplots(figsize=(side + margin + 1.2, side + margin), layout="constrained")
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(num_classes)
    if longest > 3:  # slant long names so that neighbours do not overlap
        axis.set_xticks(ticks, labels=class_names, rotation=45, ha="right", rotation_mode="anchor")
    else:
        axis.set_xticks(ticks, labels=class_names)
    axis.set_yticks(ticks, labels=class_names)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    if num_classes <= 30:
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axis.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axis, shrink=0.8, label="share of true class")
    if title:
        axis.set_title(title)
    save_figure(figure, path, KIND, dpi=110)
    plt.close(figure)
    return path


class PlotWarning(UserWarning):
    """Something `cnnzoo plot` could not redraw."""


def _output_path(output: Path | None, default: Path, fmt: str) -> Path:
    if fmt not in PLOT_FORMATS:
        raise CnnzooError(f"--format must be one of {', '.join(PLOT_FORMATS)}. Received: {fmt!r}")
    if output is None:
        return default.with_suffix(f".{fmt}")
    if output.suffix.lower().lstrip(".") in PLOT_FORMATS:
        return output
    return output.with_name(f"{output.name}.{fmt}")


def unique_labels(runs: list[Any]) -> list[str]:
    """Each run's label, with its folder name added where two runs share a label."""
    labels = [run.label for run in runs]
    return [
        f"{label} [{run.path.name}]" if labels.count(label) > 1 else label
        for label, run in zip(labels, runs, strict=True)
    ]


def draw_run_plots(
    run_dirs: Sequence[str | Path], output: Path | None = None, fmt: str = "png"
) -> list[Path]:
    """Redraw curves (one run, or several overlaid) and each evaluation's confusion heatmap.

    Curves go to `output`, else `<run>/history.<fmt>` for one run or `./comparison.<fmt>` for
    several; heatmaps go beside their evaluation, as `<run>/confusion-<split>.<fmt>`.
    """
    from cnnzoo.runs.files import confusion_file
    from cnnzoo.runs.folder import open_run

    runs = [open_run(path) for path in run_dirs]
    histories = [run.history() for run in runs]
    empty = [str(run.path) for run, rows in zip(runs, histories, strict=True) if not rows]
    if len(empty) == len(runs):
        raise CnnzooError(
            f"Nothing to plot: no epoch has finished yet in {', '.join(empty)}. "
            "Try again after the first epoch."
        )
    kept = [(run, rows) for run, rows in zip(runs, histories, strict=True) if rows]
    if len(runs) == 1:
        default = runs[0].path / "history"
        title = runs[0].label
    else:
        default = Path("comparison")
        title = f"{len(kept)} runs"
    curves = _output_path(output, default, fmt)
    single = runs[0].path if len(runs) == 1 else None
    if output is None and single is not None:
        runs[0].require_writable(f"plot draws {curves.name} there (or pass --output FILE)")
    own = _output_path(None, default, fmt) if single is not None else None
    check_destination(curves, KIND, what="--output" if output else "plot", run=single, default=own)
    # Heatmaps go beside their evaluations; a read-only run keeps the ones it has.
    writable = [run for run in runs if os.access(run.path, os.W_OK | os.X_OK)]
    for run in runs:
        if run not in writable and run.evaluations():
            warnings.warn(
                f"{run.path} is not writable: its confusion heatmaps are not redrawn.",
                PlotWarning,
                stacklevel=2,
            )
    heatmaps = [
        (run, split, result, run.path / confusion_file(split, fmt))
        for run in writable
        for split, result in run.evaluations().items()
    ]
    for run, _, _, heatmap in heatmaps:  # each the run's own heatmap, or new: before any drawing
        fix = f"Move it out of the run folder: plot redraws its {heatmap.name} there."
        check_destination(heatmap, KIND, what="plot", run=run.path, default=heatmap, fix=fix)
    curves.parent.mkdir(parents=True, exist_ok=True)
    labels = unique_labels([run for run, _ in kept])
    written = [plot_curves(labels, [rows for _, rows in kept], curves, title)]
    for run, split, result, heatmap in heatmaps:
        title = f"{run.label}, {split} split"
        written.append(plot_confusion(result.confusion_matrix, result.class_names, heatmap, title))
    return written
