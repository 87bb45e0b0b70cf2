"""What a sweep leaves behind: the trials table, the leaderboard, best.yaml and pictures.

Written into the sweep folder each time a sweep process ends (files are replaced atomically, so
processes finishing together never leave a half-written one):
- `trials.md`: every trial of the study (state, value, parameters) and `compare`'s leaderboard of
  the finished trials' run folders;
- `best.yaml`: the best trial's config, which `cnnzoo train -c best.yaml` trains as it is;
- `history.png`, `importances.png`, `parallel.png`, `intermediate.png`: Optuna's matplotlib plots.
The best trial (by validation accuracy) is evaluated once on the dataset's evaluation split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from cnnzoo.config.schema import load_config, to_yaml  # noqa: E402
from cnnzoo.runs import files as runs  # noqa: E402
from cnnzoo.sweep.folder import SWEEP  # noqa: E402
from cnnzoo.sweep.settings import Sweep  # noqa: E402
from cnnzoo.sweep.states import FINISHED  # noqa: E402
from cnnzoo.utils.outputs import save_figure  # noqa: E402
from cnnzoo.utils.tables import render  # noqa: E402

VALUE = "validation accuracy"
BEST_CONFIG = "best.yaml"
TRIALS_TABLE = "trials.md"
PICTURES = {
    "history.png": ("plot_optimization_history", "Optimisation history"),
    "importances.png": ("plot_param_importances", "Parameter importances (PED-ANOVA)"),
    "parallel.png": ("plot_parallel_coordinate", "Parallel coordinates"),
    "intermediate.png": ("plot_intermediate_values", "Validation accuracy per epoch"),
}


@dataclass(frozen=True)
class Report:
    """Where the sweep's results went, and the best trial."""

    folder: Path
    best_number: int | None
    best_value: float | None
    best_run: Path | None
    trials_table: str
    leaderboard: str
    files: list[Path]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trials_table(study: optuna.Study, fmt: str = "table") -> str:
    """Every trial: number, state, best validation accuracy, epochs, parameters, run folder."""
    trials = study.get_trials(deepcopy=False)
    keys = list(dict.fromkeys(key for trial in trials for key in trial.params))
    headers = ["trial", "state", "best val acc", "epochs", *keys, "run folder"]
    rows = []
    for trial in trials:
        value = trial.value
        if value is None and trial.intermediate_values:
            value = max(trial.intermediate_values.values())
        state = trial.state.name.lower()
        retried = trial.system_attrs.get("failed_trial")
        if retried is not None:
            state += f" (retry of {retried})"
        rows.append(
            [
                trial.number,
                state,
                "-" if value is None else f"{value:.4f}",
                _cell(trial.user_attrs.get("epochs")),
                *(_cell(trial.params.get(key)) for key in keys),
                trial.user_attrs.get("run_dir", "-"),
            ]
        )
    return render(headers, rows, fmt)


def leaderboard_rows(sweep: Sweep, study: optuna.Study) -> list[dict[str, Any]]:
    """`cnnzoo compare`'s rows for the finished trials' run folders on this machine."""
    from cnnzoo.evaluation.compare import leaderboard

    folders = []
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        folder = sweep.folder / trial.user_attrs.get("run_dir", "?")
        if (folder / runs.CONFIG_FILE).is_file() and str(folder) not in folders:
            folders.append(str(folder))
    return leaderboard(folders) if folders else []


def format_rows(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """The leaderboard rows as `cnnzoo compare` prints them."""
    from cnnzoo.evaluation.compare import format_leaderboard

    return format_leaderboard(rows, fmt) if rows else "(no finished trials in this folder)"


def write_best_config(sweep: Sweep, run_dir: Path, number: int, value: float) -> Path:
    """best.yaml: the best trial's config under the base name, ready for `cnnzoo train -c`."""
    config = load_config(run_dir / runs.CONFIG_FILE, saved=True)
    config = config.model_copy(
        update={"name": f"{sweep.base.name}-best", "output_dir": sweep.base.output_dir}
    )
    header = (
        f"# Best of sweep {sweep.study_name}: trial {number}, best validation accuracy "
        f"{value:.4f} ({run_dir}).\n# Train it with: cnnzoo train -c {sweep.folder / BEST_CONFIG}\n"
    )
    path = sweep.folder / BEST_CONFIG
    runs.write_text_atomic(path, header + to_yaml(config))
    return path


def draw_pictures(study: optuna.Study, folder: Path) -> list[Path]:
    """Optuna's matplotlib plots, headless, sized to be read; skip those the study cannot draw."""
    from optuna.visualization import matplotlib as optuna_plots

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    written = []
    for name, (function, title) in PICTURES.items():
        if name == "importances.png" and (len(finished) < 2 or len(study.best_trial.params) < 1):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = getattr(optuna_plots, function)(study)
        axis = axes.flat[0] if hasattr(axes, "flat") else axes
        figure = axis.figure
        figure.set_size_inches(9, 5.5)
        for where in ("left", "right"):
            axis.set_title("", loc=where)
        axis.set_title(f"{title}, study {study.study_name}")
        _relabel(figure)
        if name == "history.png":
            axis.set_ylabel("best validation accuracy of the trial")
        if name == "importances.png" and axis.get_legend() is not None:
            axis.get_legend().remove()  # one objective: the legend names nothing
        if name == "intermediate.png":
            axis.set_ylabel("validation accuracy")
            axis.set_xlabel("epoch")
            legend = axis.get_legend()
            if legend is not None and len(legend.get_texts()) > 12:
                legend.remove()
        path = save_figure(figure, folder / name, SWEEP, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _relabel(figure: Any) -> None:
    """Say "validation accuracy" for Optuna's "Objective Value"; no near-white lines."""
    for axis in figure.axes:
        labels = [label.get_text() for label in axis.get_xticklabels()]
        if "Objective Value" in labels:
            ticks = axis.get_xticks()
            names = [VALUE if text == "Objective Value" else text for text in labels]
            axis.set_xticks(ticks, labels=names, rotation=20, ha="right")
        if axis.get_ylabel() == "Objective Value":
            axis.set_ylabel(VALUE)
        legend = axis.get_legend()
        for text in legend.get_texts() if legend is not None else []:
            if text.get_text() == "Objective Value":
                text.set_text("trial")
            elif text.get_text() == "Best Value":
                text.set_text("best so far")
        for collection in axis.collections:
            if collection.get_array() is not None and collection.get_cmap().name == "Blues":
                collection.set_cmap("viridis")
    for axis in figure.axes:  # colour bars follow their (re-coloured) lines
        for image in axis.collections + axis.images:
            colorbar = getattr(image, "colorbar", None)
            if colorbar is not None:
                colorbar.update_normal(image)
                colorbar.set_label(VALUE)


def evaluate_once(run_dir: Path) -> Path | None:
    """Evaluate the best trial on its evaluation split, unless that was done already."""
    from cnnzoo.evaluation.evaluate import evaluate_run
    from cnnzoo.runs.files import evaluation_file
    from cnnzoo.runs.folder import default_split, open_run

    split = default_split(open_run(run_dir).config)
    if (run_dir / evaluation_file(split)).is_file():
        return run_dir / evaluation_file(split)
    evaluate_run(run_dir, split)
    return run_dir / evaluation_file(split)


def write_report(sweep: Sweep, study: optuna.Study) -> Report:
    """Write the tables, best.yaml, pictures and the best trial's evaluation."""
    table = trials_table(study)
    files = []
    best_number = best_value = best_run = None
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = max(complete, key=lambda trial: trial.value)
        best_number, best_value = best.number, best.value
        best_run = sweep.folder / best.user_attrs["run_dir"]
        if (best_run / runs.CONFIG_FILE).is_file():
            files.append(write_best_config(sweep, best_run, best.number, best.value))
            if (best_run / runs.MODEL_FILE).is_file():
                files.append(evaluate_once(best_run))
    rows = leaderboard_rows(sweep, study)  # after the evaluation, so its accuracy is shown
    markdown = (
        f"# Sweep {sweep.study_name}\n\n## Trials\n\n{trials_table(study, 'markdown')}\n\n"
        f"## Leaderboard (finished trials)\n\n{format_rows(rows, 'markdown')}\n"
    )
    runs.write_text_atomic(sweep.folder / TRIALS_TABLE, markdown)
    files.append(sweep.folder / TRIALS_TABLE)
    if study.get_trials(deepcopy=False, states=FINISHED):
        files += draw_pictures(study, sweep.folder)
    board = format_rows(rows)
    return Report(sweep.folder, best_number, best_value, best_run, table, board, files)
