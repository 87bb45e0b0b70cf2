"""Prediction: class probabilities for image files, preprocessed exactly as in training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo.datasets.folders import candidate_images
from cnnzoo.runs.folder import open_run
from cnnzoo.utils.errors import CnnzooError


@dataclass(frozen=True)
class Prediction:
    """The top classes for one image, most probable first."""

    path: Path
    top: list[tuple[str, float]]


@dataclass
class PredictionReport:
    """Predictions for the readable images; (path, reason) for the files that failed (errors)
    and for the files found in a folder that are not images (skipped with a warning)."""

    predictions: list[Prediction] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

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
            "skipped": [{"path": str(path), "reason": reason} for path, reason in self.skipped],
        }

    def to_text(self) -> str:
        """One line per image: the path, then `class probability` pairs."""
        lines = []
        for prediction in self.predictions:
            ranked = ", ".join(f"{name} {prob:.3f}" for name, prob in prediction.top)
            lines.append(f"{prediction.path}: {ranked}")
        return "\n".join(lines)


def _missing(path: Path) -> str:
    """Why `path` is neither a file nor a folder, in the system's words."""
    try:
        path.stat()
    except OSError as error:
        return (error.strerror or type(error).__name__).lower()
    return "not a regular file or folder"


def expand_images(
    paths: Sequence[str | Path],
) -> tuple[list[Path], set[Path], list[tuple[Path, str]]]:
    """Files as given, folders as the files inside them that training would read too
    (`candidate_images`); which files came from a folder; and the paths that failed."""
    files: list[Path] = []
    found: set[Path] = set()
    failures: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = candidate_images(path)
            if not inside:
                failures.append((path, "no files in this folder"))
            files.extend(inside)
            found.update(inside)
        elif path.is_file():
            files.append(path)
        else:
            failures.append((path, _missing(path)))
    return files, found, failures


@dataclass
class UserImages:
    """The user's images read as training reads them: the readable files in order with their
    preprocessed pixels; (path, reason) for the files found in a folder that are not images
    (skipped, as training skips them) and for the ones that failed (named on the command line,
    or unreadable)."""

    paths: list[Path]
    images: np.ndarray | None
    skipped: list[tuple[Path, str]]
    failures: list[tuple[Path, str]]


def read_images(paths: Sequence[str | Path], config: Any) -> UserImages:
    """Expand folders, decode and preprocess every file as the run's `config` trained on them."""
    files, found, failures = expand_images(paths)
    if not files:
        return UserImages([], None, [], failures)
    from cnnzoo.data.bad_files import UNREADABLE
    from cnnzoo.data.pipeline import load_images

    images, unreadable = load_images(files, config)
    skipped = [(p, why) for p, why in unreadable if p in found and why == UNREADABLE]
    failures += [(p, why) for p, why in unreadable if (p, why) not in skipped]
    failed = {Path(path) for path, _ in unreadable}
    readable = [path for path in files if path not in failed]
    assert len(readable) == len(images), "load_images returns one image per readable file"
    return UserImages(readable, images, skipped, failures)


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
    read = read_images(paths, run.config)
    report = PredictionReport(failures=read.failures, skipped=read.skipped)
    if read.paths:
        probabilities = np.asarray(model.predict(read.images, batch_size=batch_size, verbose=0))
        tops = top_classes(probabilities, class_names, min(top_k, len(class_names)))
        report.predictions = [Prediction(p, top) for p, top in zip(read.paths, tops, strict=True)]
    return report
