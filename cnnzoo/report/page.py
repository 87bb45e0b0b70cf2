"""`cnnzoo report`: one self-contained HTML page about a run, or comparing several runs.

Everything comes from the run folder: config, environment, history, the evaluations that
`cnnzoo evaluate` saved (metrics, confusion matrix, per-class table, mistakes and their pixels).
Grad-CAM samples are computed for the saved mistakes when the model is there; training writes
the page without them (cheap), `cnnzoo report` adds them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnzoo.evaluation.mistakes import mistakes_file
from cnnzoo.report import html
from cnnzoo.report.sections import evaluation_section, percent, png_bytes
from cnnzoo.runs import files as runs
from cnnzoo.runs.folder import RunFolder, open_run
from cnnzoo.utils import outputs
from cnnzoo.utils.errors import CnnzooError

REPORT_FILE = "report.html"


class ReportWarning(UserWarning):
    """Something the report had to leave out."""


def _curves(run: RunFolder) -> str:
    rows = run.history()
    if not rows:
        return '<p class="muted">No epoch has finished yet.</p>'
    saved = run.path / runs.HISTORY_PLOT
    if saved.is_file() and run.metrics():
        png = saved.read_bytes()
    else:  # a run in progress: draw what there is
        from cnnzoo.visualization.plots import plot_history

        png = png_bytes(plot_history, rows, title=run.config.name)
    return html.figure(png, "training and validation accuracy and loss per epoch")


def _summary(run: RunFolder) -> str:
    status = runs.read_status(run.path)
    rows = run.history()
    best = runs.best_validation_accuracy(rows)
    items = [
        ("status", status.status if status else "unknown"),
        ("epochs", f"{len(rows)} of {run.config.train.epochs}"),
        ("final training accuracy", percent(rows[-1].get("accuracy") if rows else None)),
        ("best validation accuracy", percent(best)),
    ]
    for split, result in run.evaluations().items():
        items.append((f"{split} accuracy ({result.num_examples} images)", percent(result.accuracy)))
    return html.cards(items)


def _environment(run: RunFolder) -> str:
    path = run.path / runs.ENVIRONMENT_FILE
    if not path.is_file():
        return ""
    environment = runs.read_json(path)
    rows = [
        [key, ", ".join(map(str, value)) if isinstance(value, list) else value]
        for key, value in environment.items()
        if key not in ("plan", "resumed") and not isinstance(value, dict)
    ]
    plan = environment.get("plan") or {}
    rows += [
        [f"plan.{key}", value] for key, value in plan.items() if not isinstance(value, dict | list)
    ]
    return "<h3>Environment</h3>" + html.table(["", "value"], rows)


def _load_model(run: RunFolder) -> Any:
    """The run's model for Grad-CAM, or None (with a warning) if it cannot be loaded."""
    if not run.model_path.is_file():
        return None
    try:
        return run.load_model()  # TensorFlow starts quietly there
    except CnnzooError as error:
        warnings.warn(f"Grad-CAM samples left out: {error}", ReportWarning, stacklevel=2)
        return None


def run_section(run: RunFolder, anchor: str, gradcam: bool, heading: bool = True) -> str:
    """Everything about one run."""
    from cnnzoo.config.schema import to_yaml

    evaluations = run.evaluations()
    needs_model = gradcam and any(
        (run.path / mistakes_file(split, "npz")).is_file() for split in evaluations
    )
    model = _load_model(run) if needs_model else None
    parts = [
        f'<section id="{anchor}">',
        f"<h2>{html.escape(run.label)}</h2>" if heading else "",
        f'<p class="muted">{html.escape(str(run.path))}</p>',
        _summary(run),
        "<h3>Training curves</h3>",
        _curves(run),
    ]
    if evaluations:
        parts += [
            evaluation_section(run, split, result, model) for split, result in evaluations.items()
        ]
    else:
        parts.append(
            '<p class="muted">Not evaluated yet: <code>cnnzoo evaluate RUN</code> adds metrics, '
            "the confusion matrix and mistakes; then <code>cnnzoo report RUN</code>.</p>"
        )
    parts += [
        "<details><summary>Config and environment</summary>",
        html.pre(to_yaml(run.config)),
        _environment(run),
        "</details>",
        "</section>",
    ]
    return "\n".join(parts)


def _comparison(folders: list[RunFolder]) -> str:
    from cnnzoo.evaluation.compare import COLUMNS, format_cell, leaderboard
    from cnnzoo.visualization.plots import plot_curves, unique_labels

    rows = leaderboard([str(run.path) for run in folders])
    keys = list(COLUMNS)
    cells = [[format_cell(key, row[key], "table") for key in keys] for row in rows]
    numeric = {i for i, key in enumerate(keys) if key not in ("run", "model", "dataset")}
    parts = ["<h2>Comparison</h2>", html.table([COLUMNS[k].header for k in keys], cells, numeric)]
    kept = [run for run in folders if run.history()]
    if kept:
        labels = unique_labels(kept)
        png = png_bytes(
            plot_curves, labels, [run.history() for run in kept], title=f"{len(kept)} runs"
        )
        parts.append(html.figure(png, "training curves of the runs overlaid"))
    return "\n".join(parts)


def _destination(folders: list[RunFolder], output: Path | None) -> Path:
    """The page's path: new, or an earlier cnnzoo report (recognised by its generator tag)."""
    single = folders[0].path if len(folders) == 1 else None
    default = single / REPORT_FILE if single is not None else Path(REPORT_FILE)
    path = Path(output) if output is not None else default
    if path.is_dir():
        path = path / REPORT_FILE
    outputs.check_destination(
        path,
        html.KIND,
        what="--output" if output is not None else "report",
        run=single,
        default=default if single is not None else None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_report(
    run_dirs: Sequence[str | Path], output: Path | None = None, gradcam: bool = True
) -> Path:
    """Write the HTML report of one run (or a comparison of several) and return its path."""
    if not run_dirs:
        raise CnnzooError("report: name at least one run folder.")
    folders = [open_run(path) for path in run_dirs]
    path = _destination(folders, output)
    anchors = [f"run-{index}" for index in range(1, len(folders) + 1)]
    if len(folders) == 1:
        title = f"{folders[0].label}: cnnzoo report"
        body = [f"<h1>{html.escape(folders[0].label)}</h1>"]
    else:
        title = f"{len(folders)} runs: cnnzoo report"
        links = "".join(
            f'<li><a href="#{a}">{html.escape(run.label)}</a></li>'
            for a, run in zip(anchors, folders, strict=True)
        )
        body = [
            f"<h1>{len(folders)} runs compared</h1>",
            f"<nav><ul>{links}</ul></nav>",
            _comparison(folders),
        ]
    body += [
        run_section(run, a, gradcam, heading=len(folders) > 1)
        for a, run in zip(anchors, folders, strict=True)
    ]
    body.append(f'<p class="muted">Written by cnnzoo on {runs.now()}.</p>')
    runs.write_text_atomic(path, html.page(title, "\n".join(body)))
    return path


def report_after_training(run_dir: Path) -> Path | None:
    """The run's report at the end of training, without Grad-CAM; a failure only warns."""
    try:
        return write_report([run_dir], gradcam=False)
    except Exception as error:  # noqa: BLE001 - the trained run matters more than its page
        warnings.warn(f"report.html not written: {error}", ReportWarning, stacklevel=2)
        return None
