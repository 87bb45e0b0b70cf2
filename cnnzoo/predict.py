"""Prediction: class probabilities for image files, preprocessed exactly as in training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo.errors import CnnzooError
from cnnzoo.results import open_run

# Files a folder expands to; a file named on the command line is tried whatever its extension.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class Prediction:
    """The top classes for one image, most probable first."""

    path: Path
    top: list[tuple[str, float]]


@dataclass
class PredictionReport:
    """Predictions for the readable images, and (path, reason) for the others."""

    predictions: list[Prediction] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {
            "predictions": [
                {
                    "path": str(p.path),
                    "top": [{"class": name, "probability": prob} for name, prob in p.top],
                }
                for p in self.predictions
            ],
            "failures": [{"path": str(path), "error": reason} for path, reason in self.failures],
        }

    def to_text(self) -> str:
        """One line per image: the path, then `class probability` pairs."""
        lines = []
        for prediction in self.predictions:
            ranked = ", ".join(f"{name} {prob:.3f}" for name, prob in prediction.top)
            lines.append(f"{prediction.path}: {ranked}")
        return "\n".join(lines)


def expand_images(paths: Sequence[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files as given, folders as the image files inside them (recursively, sorted)."""
    files: list[Path] = []
    failures: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                failures.append((path, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            failures.append((path, "no such file or folder"))
    return files, failures


def top_classes(
    probabilities: np.ndarray, class_names: Sequence[str], top_k: int
) -> list[list[tuple[str, float]]]:
    """The `top_k` (class, probability) pairs per row, most probable first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    return [
        [(class_names[i], float(row[i])) for i in indices]
        for row, indices in zip(probabilities, order, strict=True)
    ]


def predict_images(
    run_dir: str | Path, paths: Sequence[str | Path], top_k: int = 3, batch_size: int = 64
) -> PredictionReport:
    """Predict each image (folders expand to their images); unreadable files are reported."""
    if top_k < 1:
        raise CnnzooError(f"--top-k must be at least 1. Received: {top_k}")
    run = open_run(run_dir)
    class_names = run.require_classes()
    model = run.load_model()
    files, failures = expand_images(paths)
    report = PredictionReport(failures=failures)
    if not files:
        return report
    from cnnzoo.data.pipeline import load_images

    images, unreadable = load_images(files, run.config)
    report.failures.extend((Path(path), reason) for path, reason in unreadable)
    failed = {Path(path) for path, _ in unreadable}
    readable = [path for path in files if path not in failed]
    assert len(readable) == len(images), "load_images returns one image per readable file"
    if readable:
        probabilities = np.asarray(model.predict(images, batch_size=batch_size, verbose=0))
        tops = top_classes(probabilities, class_names, min(top_k, len(class_names)))
        report.predictions = [Prediction(p, top) for p, top in zip(readable, tops, strict=True)]
    return report
