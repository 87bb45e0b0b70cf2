"""The mistakes of an evaluation: the most confident wrong predictions and the most confused pairs.

`cnnzoo evaluate` calls `write_mistakes` after it has saved the predictions. It writes, beside
`predictions-<split>.npz`:
- `mistakes-<split>.json`: the worst mistakes (index in the split, true and predicted class,
  confidence) and the most confused (true, predicted) pairs from the confusion matrix;
- `mistakes-<split>.npz`: those images' pixels (uint8, as decoded for the model), so the report
  and Grad-CAM can show them later from the run folder alone;
- `mistakes-<split>.png`: the images in a grid, titled true -> predicted (confidence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo.runs import files as runs
from cnnzoo.utils import outputs

KIND = "evaluation"  # what `outputs` calls the files `cnnzoo evaluate` writes into its run
WORST = 16  # images in the grid
PAIRS = 10  # confused pairs listed


def mistakes_file(split: str, suffix: str) -> str:
    """File name of a mistakes artefact (json, npz or png) for `split`."""
    return f"mistakes-{split}.{suffix}"


def worst_mistakes(probabilities: np.ndarray, labels: np.ndarray, count: int = WORST) -> np.ndarray:
    """Indices of the misclassified examples, most confident wrong prediction first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """confusion[true, predicted]: rows are the actual classes, columns the predictions."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return confusion


def confused_pairs(
    probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], count: int = PAIRS
) -> list[dict[str, Any]]:
    """The (true, predicted) pairs with the most mistakes, with the share of the true class."""
    confusion = confusion_matrix(labels, probabilities.argmax(axis=1), len(class_names))
    support = confusion.sum(axis=1)
    np.fill_diagonal(confusion, 0)
    order = np.argsort(-confusion, axis=None, kind="stable")[:count]
    pairs = []
    for true, predicted in zip(*np.unravel_index(order, confusion.shape), strict=True):
        mistakes = int(confusion[true, predicted])
        if mistakes == 0:
            break
        pairs.append(
            {
                "true": class_names[true],
                "predicted": class_names[predicted],
                "count": mistakes,
                "share_of_true_class": mistakes / int(support[true]),
            }
        )
    return pairs


def _gather(dataset, indices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The images at `indices` of a batched (image, one-hot) dataset, in the order given."""
    wanted = {int(index): position for position, index in enumerate(indices)}
    found: dict[int, np.ndarray] = {}
    start = 0
    for images, one_hot in dataset:
        count = int(images.shape[0])
        for index in range(start, start + count):
            if index in wanted:
                found[index] = np.asarray(images[index - start])
                # The split must replay in the order it was predicted in.
                assert int(np.argmax(one_hot[index - start])) == labels[index]
        start += count
        if len(found) == len(wanted):
            break
    return np.stack([found[int(index)] for index in indices])


def write_mistakes(
    run_path: Path,
    split: str,
    probabilities: np.ndarray,
    labels: np.ndarray,
    dataset,
    class_names: list[str],
    rescale: float,
    title: str,
) -> list[Path]:
    """Write the mistakes JSON (always), and the images and their grid (if there are mistakes).

    `split` names the files: the split, or `runs.evaluation_key` for other data (`test-on-x`).
    """
    worst = worst_mistakes(probabilities, labels)
    predicted = probabilities.argmax(axis=1)
    records = [
        {
            "index": int(i),
            "true": class_names[labels[i]],
            "predicted": class_names[predicted[i]],
            "confidence": float(probabilities[i, predicted[i]]),
        }
        for i in worst
    ]
    summary = {
        "split": split,
        "num_examples": int(len(labels)),
        "num_mistakes": int(np.sum(predicted != labels)),
        "worst": records,
        "confused_pairs": confused_pairs(probabilities, labels, class_names),
    }
    json_path = run_path / mistakes_file(split, "json")
    npz_path, png_path = (run_path / mistakes_file(split, s) for s in ("npz", "png"))
    for stale in (npz_path, png_path):
        stale.unlink(missing_ok=True)
    runs.write_json(json_path, summary)
    if not records:
        return [json_path]
    images = _gather(dataset, worst, labels)
    pixels = np.clip(np.round(images / np.float32(rescale)), 0, 255).astype(np.uint8)
    with outputs.staged_file(npz_path) as temp:
        np.savez_compressed(
            temp,
            pixels=pixels,
            indices=worst,
            labels=labels[worst],
            predicted=predicted[worst],
            confidence=probabilities[worst, predicted[worst]],
        )
    from cnnzoo.visualization.explain_draw import display_image, draw_grid, short

    pictures = [display_image(image, rescale) for image in images]
    titles = [
        f"true {short(r['true'])}\nsaid {short(r['predicted'])} {r['confidence']:.2f}"
        for r in records
    ]
    draw_grid(
        pictures,
        titles,
        png_path,
        f"{title}: most confident mistakes ({summary['num_mistakes']} of {len(labels)} wrong)",
        columns=min(4, len(pictures)),
        colours=["#b2182b"] * len(pictures),
        kind=KIND,
    )
    return [json_path, npz_path, png_path]


def format_confused_pairs(evaluation: Any) -> str:
    """The evaluation's most confused pairs (from its mistakes JSON) as lines for the terminal."""
    path = Path(evaluation.run_dir) / mistakes_file(evaluation.file_key, "json")
    summary = runs.read_json(path) if path.is_file() else {}
    pairs = summary.get("confused_pairs") or []
    if not pairs:
        return "\nNo mistakes." if summary else ""
    lines = [f"\nMost confused (true -> predicted), {summary['num_mistakes']} mistakes in all:"]
    for pair in pairs:
        lines.append(
            f"  {pair['true']} -> {pair['predicted']}: {pair['count']} "
            f"({pair['share_of_true_class']:.1%} of {pair['true']})"
        )
    return "\n".join(lines)
