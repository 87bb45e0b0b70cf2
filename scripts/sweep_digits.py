"""A real sweep on scikit-learn's digits: the base config vs the best trial, pruning vs none.

Writes the digits as an mnist.npz-format file, trains the shipped mnist_lenet config on it once
(the base), then runs the shipped MNIST search space twice with the same seed and budget, once
with the median pruner and once without, each in a fresh process. Prints wall time and the CPU
seconds of the child processes (the machine may be shared), and the best validation accuracy:

    python scripts/sweep_digits.py /tmp/digits-sweep --trials 12 --epochs 8
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "mnist_lenet.yaml"
SPACE = REPO / "configs" / "spaces" / "mnist_lenet.yaml"


def timed(command: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, CPU seconds of the child) and fail loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def study_summary(folder: Path) -> dict[str, float | int]:
    """Best value, trial states and epochs trained, read from the sweep's SQLite study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = f"sqlite:///{folder / 'study.db'}"
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    states = [t.state.name for t in trials]
    return {
        "best": max(t.value for t in trials if t.value is not None and t.state.name == "COMPLETE"),
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "epochs": sum(t.user_attrs.get("epochs", 0) for t in trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruners", nargs="+", default=["median", "none"])
    args = parser.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    digits = work / "digits.npz"
    if not digits.exists():
        make_digits = REPO / "scripts" / "make_digits.py"
        subprocess.run([sys.executable, str(make_digits), "npz", str(digits)], check=True)
    sets = ["--set", f"data.path={digits}", "--set", f"train.epochs={args.epochs}"]
    cli = [sys.executable, "-m", "cnnzoo"]

    base = work / "base"
    if not (base / "metrics.json").exists():
        wall, cpu = timed([*cli, "train", "-c", str(CONFIG), *sets, "-o", str(base)])
        print(f"base: {wall:.0f} s wall, {cpu:.0f} s CPU")
    history = json.loads((base / "history.json").read_text())
    base_best = max(row["val_accuracy"] for row in history)

    rows = []
    for pruner in args.pruners:
        folder = work / f"sweep-{pruner}"
        if folder.exists():
            shutil.rmtree(folder)  # a fresh study: the timing covers every trial
        command = [
            *cli, "sweep", "-c", str(CONFIG), "--space", str(SPACE), *sets,
            "--trials", str(args.trials), "--pruner", pruner, "--seed", str(args.seed),
            "-o", str(folder),
        ]  # fmt: skip
        wall, cpu = timed(command)
        rows.append((pruner, wall, cpu, study_summary(folder)))

    print(f"\nBase config (mnist_lenet.yaml, {args.epochs} epochs): best val acc {base_best:.4f}")
    print(
        "\n| pruner | wall s | CPU s | trials complete / pruned | epochs trained | best val acc |"
    )
    print("| :-- | --: | --: | --: | --: | --: |")
    for pruner, wall, cpu, s in rows:
        print(
            f"| {pruner} | {wall:.0f} | {cpu:.0f} | {s['complete']} / {s['pruned']} | "
            f"{s['epochs']} | {s['best']:.4f} |"
        )


if __name__ == "__main__":
    main()
