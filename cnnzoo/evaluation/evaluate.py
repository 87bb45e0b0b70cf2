"""Evaluation: predict a held-out split, save the predictions, and compute metrics from them.

The metrics are plain numpy over the saved probabilities and labels (`predictions-<split>.npz`),
so anyone can recompute them. Loss is the unsmoothed categorical cross-entropy (probabilities
clipped to [1e-7, 1 - 1e-7], as Keras does), whatever label smoothing training used.

Every file goes into the run folder at its documented name (`evaluation_files`), checked by
the output guard before the model is loaded, and is written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo.config.schema import Config
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.evaluation import mistakes
from cnnzoo.runs import files as runs
from cnnzoo.runs.folder import default_split, open_run
from cnnzoo.utils import outputs
from cnnzoo.utils.errors import CnnzooError
from cnnzoo.utils.tables import text_table

EPSILON = 1e-7  # keras.config.epsilon(), used by Keras' cross-entropy to clip probabilities


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def compute_metrics(
    probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], top_k: int = 5
) -> dict[str, Any]:
    """Loss, accuracy, top-k accuracy, per-class precision/recall/F1/support and confusion."""
    assert probabilities.ndim == 2 and probabilities.shape[1] == len(class_names)
    assert labels.shape == (len(probabilities),)
    num_classes = len(class_names)
    predicted = probabilities.argmax(axis=1)
    confusion = mistakes.confusion_matrix(labels, predicted, num_classes)

    true_probability = probabilities[np.arange(len(labels)), labels]
    loss = float(np.mean(-np.log(np.clip(true_probability, EPSILON, 1 - EPSILON))))
    # Like tf.math.in_top_k: a label is in the top k if fewer than k classes score higher.
    k = min(top_k, num_classes)
    higher = (probabilities > true_probability[:, None]).sum(axis=1)

    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _ratio(hits, confusion.sum(axis=0))
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    per_class = [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]
    weights = support / max(1, support.sum())
    return {
        "num_examples": len(labels),
        "loss": loss,
        "accuracy": float(np.mean(predicted == labels)),
        "top_k": k,
        "top_k_accuracy": float(np.mean(higher < k)),
        "macro_avg": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
        },
        "weighted_avg": {
            "precision": float(precision @ weights),
            "recall": float(recall @ weights),
            "f1": float(f1 @ weights),
        },
        "per_class": per_class,
        "class_names": list(class_names),
        "confusion_matrix": confusion.tolist(),
    }


def check_classes(model_classes: list[str], data_classes: list[str]) -> None:
    """Refuse data whose classes differ from the model's, naming the difference."""
    if list(model_classes) == list(data_classes):
        return
    missing = [name for name in model_classes if name not in data_classes]
    extra = [name for name in data_classes if name not in model_classes]
    if not missing and not extra:
        difference = f"same classes in a different order: data {data_classes}"
    else:
        parts = []
        if extra:
            parts.append(f"not known to the model: {', '.join(extra)}")
        if missing:
            parts.append(f"missing from the data: {', '.join(missing)}")
        difference = "; ".join(parts)
    raise CnnzooError(
        f"The data's classes do not match the model's ({difference}). Evaluate on data with the "
        f"{len(model_classes)} classes in the run's {runs.CLASSES_FILE}."
    )


def predict_dataset(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Run `model` over a batched (image, one-hot label) dataset: (probabilities, labels)."""
    probabilities, labels = [], []
    for images, one_hot in dataset:
        probabilities.append(np.asarray(model(images, training=False), dtype=np.float32))
        labels.append(np.argmax(np.asarray(one_hot), axis=1))
    if not probabilities:
        raise CnnzooError("The split has no images to evaluate.")
    return np.concatenate(probabilities), np.concatenate(labels).astype(np.int64)


def with_data_path(config: Config, data_path: Path) -> Config:
    """`config` reading its dataset from `data_path` instead of where training read it.

    The dataset's plugin decides how (for class folders every image under `data_path` is held out).
    """
    if not data_path.exists():
        raise CnnzooError(f"--data: no file or folder at {data_path}.")
    data = DATASETS.get(config.data.dataset).with_data_path(config.data, data_path)
    return config.model_copy(update={"data": data})


@dataclass(frozen=True)
class Evaluation:
    """An evaluation's metrics and the files it wrote."""

    run_dir: Path
    split: str
    metrics: dict[str, Any]
    files: list[Path]
    key: str = ""  # what its files are named after (runs.evaluation_key); default the split
    data_path: str | None = None  # other data than the run's own (`--data`), else None

    @property
    def file_key(self) -> str:
        """The evaluation's files are `evaluation-<file_key>.json` and so on."""
        return self.key or self.split


def evaluate_run(
    run_dir: str | Path,
    split: str | None = None,
    data_path: str | Path | None = None,
    top_k: int = 5,
) -> Evaluation:
    """Evaluate a run's model on a split; write predictions, metrics, tables and a heatmap."""
    run = open_run(run_dir)
    config = run.config if data_path is None else with_data_path(run.config, Path(data_path))
    split = split or default_split(config)
    if split not in runs.SPLITS:
        raise CnnzooError(f"--split must be one of {', '.join(runs.SPLITS)}. Received: {split!r}")
    model_classes = run.require_classes()
    run.require_writable("evaluate saves its predictions, metrics and plots there")
    own = data_path is None or _same_data(run.config, Path(data_path))
    key = runs.evaluation_key(run.path, split, data_path, own)
    check_destinations(run.path, key)
    model = run.load_model()
    from cnnzoo.data.pipeline import load_split  # TensorFlow, once the arguments are checked
    from cnnzoo.visualization.plots import plot_confusion

    dataset, data_classes = load_split(config, split)
    check_classes(model_classes, list(data_classes))

    probabilities, labels = predict_dataset(model, dataset)
    saved = run.path / runs.predictions_file(key)
    with outputs.staged_file(saved) as temp:
        np.savez_compressed(temp, probabilities=probabilities, labels=labels)
    metrics = compute_metrics(probabilities, labels, model_classes, top_k)
    record = runs.EvaluationRecord(
        split=split,
        dataset=config.data.dataset,
        data_path=config.data.path,
        model=config.model.name,
        evaluated=runs.now(),
        **metrics,
    )
    files = [saved, *runs.write_evaluation(run.path, record, key)]
    heatmap = run.path / runs.confusion_file(key, "png")
    title = f"{run.label}, {split} split" + ("" if own else f" of {Path(str(data_path)).name}")
    files.append(plot_confusion(metrics["confusion_matrix"], model_classes, heatmap, title))
    files += mistakes.write_mistakes(
        run.path, key, probabilities, labels, dataset, model_classes, config.augment.rescale, title
    )
    other = None if own else str(data_path)
    return Evaluation(run.path, split, metrics, files, key, other)


def evaluation_files(run_path: Path, key: str) -> dict[Path, str]:
    """Every file `evaluate_run` writes for `key`, with the kind of output it is (`outputs`)."""
    from cnnzoo.visualization.plots import KIND as PLOT  # the heatmap `cnnzoo plot` redraws

    names = [
        runs.predictions_file(key),
        runs.evaluation_file(key),
        runs.per_class_file(key),
        runs.confusion_file(key),
        *(mistakes.mistakes_file(key, suffix) for suffix in ("json", "npz", "png")),
    ]
    files = {run_path / name: mistakes.KIND for name in names}
    files[run_path / runs.confusion_file(key, "png")] = PLOT
    return files


def check_destinations(run_path: Path, key: str) -> None:
    """Refuse, before any work, a folder or cnnzoo output of another kind at an evaluation file.

    These names in the run folder are evaluate's documented place: an earlier evaluation's
    files there are replaced, even when an older cnnzoo wrote them without a record.
    """
    for path, kind in evaluation_files(run_path, key).items():
        fix = f"Move it out of the run folder: evaluate writes its {path.name} there."
        outputs.check_destination(path, kind, what="evaluate", run=run_path, default=path, fix=fix)


def _same_data(config: Config, data_path: Path) -> bool:
    """Whether `data_path` is the very file or folder the run was trained on."""
    trained_on = config.data.path
    return trained_on is not None and Path(trained_on).resolve() == data_path.resolve()


def format_report(evaluation: Evaluation) -> str:
    """The evaluation as readable text: summary, per-class table and confusion matrix."""
    m = evaluation.metrics
    data = f" of {evaluation.data_path}" if evaluation.data_path else ""
    lines = [
        f"Split: {evaluation.split}{data} ({m['num_examples']} images)",
        f"Loss: {m['loss']:.4f}   Accuracy: {m['accuracy']:.4f}   "
        f"Top-{m['top_k']} accuracy: {m['top_k_accuracy']:.4f}",
        "",
    ]
    lines += [text_table(list(runs.PER_CLASS_COLUMNS), runs.per_class_rows(m)), ""]
    # Confusion matrix with class indices as column headers, so long names do not widen it.
    names = m["class_names"]
    headers = ["true \\ predicted", *(str(i) for i in range(len(names)))]
    matrix = [
        [f"{i} {name}", *counts]
        for i, (name, counts) in enumerate(zip(names, m["confusion_matrix"], strict=True))
    ]
    lines.append(text_table(headers, matrix))
    return "\n".join(lines)
