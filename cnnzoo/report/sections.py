"""The report's sections about one evaluated split: metrics, confusion, per class, mistakes.

Read from the files `cnnzoo evaluate` saved; Grad-CAM of the saved mistakes when a model is given.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo.evaluation.mistakes import mistakes_file
from cnnzoo.report import html
from cnnzoo.runs import files as runs
from cnnzoo.runs.files import EvaluationRecord, confusion_file
from cnnzoo.runs.folder import RunFolder

GRADCAM_SAMPLES = 8


def png_bytes(draw, *args: Any, **kwargs: Any) -> bytes:
    """Run a plots function that saves to a path, and return the PNG's bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "figure.png"
        draw(*args, path, **kwargs)
        return path.read_bytes()


def percent(value: Any) -> str:
    """A fraction as a percentage with two decimals, "-" when there is none."""
    return f"{100 * value:.2f}%" if isinstance(value, int | float) else "-"


def _per_class(result: EvaluationRecord) -> str:
    headers = list(runs.PER_CLASS_COLUMNS)
    return html.table(headers, runs.per_class_rows(asdict(result)), {1, 2, 3, 4})


def _gradcam_samples(run: RunFolder, split: str, model: Any) -> str:
    """Grad-CAM of the saved worst mistakes, for the class the model wrongly chose."""
    saved = np.load(run.path / mistakes_file(split, "npz"))
    pixels = saved["pixels"][:GRADCAM_SAMPLES]
    from cnnzoo.explain import gradcam as explain
    from cnnzoo.visualization import explain_draw

    rescale = run.config.augment.rescale
    images = pixels.astype(np.float32) * np.float32(rescale)
    cam = explain.grad_cam(model, images)
    heatmaps = explain.upsample(cam.maps, images.shape[1:3])
    names = run.require_classes()
    pictures = [
        explain_draw.overlay(explain_draw.display_image(image, rescale), heatmap)
        for image, heatmap in zip(images, heatmaps, strict=True)
    ]
    titles = [
        f"true {explain_draw.short(names[t])}\nsaid {explain_draw.short(names[p])}"
        for t, p in zip(saved["labels"], cam.class_indices, strict=False)
    ]
    columns = min(4, len(pictures))
    png = png_bytes(explain_draw.draw_grid, pictures, titles, columns=columns, kind=html.KIND)
    return html.figure(
        png, "Grad-CAM of the worst mistakes", f"Grad-CAM at {cam.layer} for the predicted class."
    )


def evaluation_section(run: RunFolder, split: str, result: EvaluationRecord, model: Any) -> str:
    parts = [f"<h3>{split.capitalize()} split ({result.num_examples} images)</h3>"]
    parts.append(
        html.cards(
            [
                ("accuracy", percent(result.accuracy)),
                (f"top-{result.top_k} accuracy", percent(result.top_k_accuracy)),
                ("loss", f"{result.loss:.4f}"),
                ("macro F1", f"{result.macro_avg['f1']:.3f}"),
            ]
        )
    )
    confusion = run.path / confusion_file(split, "png")
    if confusion.is_file():
        png = confusion.read_bytes()
    else:
        from cnnzoo.visualization.plots import plot_confusion

        png = png_bytes(plot_confusion, result.confusion_matrix, result.class_names)
    parts.append(
        html.figure(
            png, f"confusion matrix, {split} split", "Rows: true class; columns: predicted."
        )
    )
    parts.append("<h3>Per class</h3>")
    parts.append(_per_class(result))
    parts.append(_mistakes(run, split, model))
    return "\n".join(parts)


def _mistakes(run: RunFolder, split: str, model: Any) -> str:
    path = run.path / mistakes_file(split, "json")
    if not path.is_file():
        return '<p class="muted">No mistakes saved (evaluated before cnnzoo wrote them).</p>'
    summary = runs.read_json(path)
    parts = [f"<h3>Mistakes: {summary['num_mistakes']} of {summary['num_examples']}</h3>"]
    pairs = summary["confused_pairs"]
    if pairs:
        rows = [
            [p["true"], p["predicted"], p["count"], percent(p["share_of_true_class"])]
            for p in pairs
        ]
        parts.append(
            html.table(["true", "predicted as", "images", "share of true class"], rows, {2, 3})
        )
    grid = run.path / mistakes_file(split, "png")
    if grid.is_file():
        parts.append(
            html.figure(
                grid.read_bytes(),
                "most confident mistakes",
                "Most confident wrong predictions: true -> predicted (confidence).",
            )
        )
    if model is not None and (run.path / mistakes_file(split, "npz")).is_file():
        parts.append(_gradcam_samples(run, split, model))
    return "\n".join(parts)
