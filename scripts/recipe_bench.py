"""Recipe benchmark: cnnzoo configs against a plain-Keras reference, on variants of real images.

For each variant (scripts/variants.py) and seed, every named config whose dataset fits the
variant (image folders: `monkeys` and `directory` configs; mnist.npz files: `mnist` configs) is
trained through the real CLI, as a user runs it, in its own process:

    python -m cnnzoo train -c NAME --set seed=SEED --set data.path=... --output RUN

and read back from its run folder (history.json, and `cnnzoo evaluate RUN --split test` for the
mnist.npz variants, whose test split is not the validation one). Then the plain-Keras reference
below (`reference`, no cnnzoo code: a 4-block conv-BN-ReLU CNN with global average pooling,
flips/shifts/zoom, AdamW with a cosine decay, label smoothing, as keras.io's examples train)
runs in its own process with the same whole-process wall-clock budget as the first config on
that variant and seed (or `--budget` seconds): it trains epochs until the budget is spent, its
learning rate decaying over the budget (or, with `--reference-epochs N`, exactly N epochs in
whatever time they take, its rate decaying over them), at Keras' defaults (float32; cnnzoo
picks its own precision for the machine, as a user gets it). Folder variants have one held-out
folder, as the real 10 Monkey Species has: validation and test are the same images there (best
validation accuracy is the best epoch seen on them, so it is optimistic; final is the last
epoch's).

Per run: best and final validation accuracy, held-out test accuracy, whole-process wall and CPU
seconds, epochs, and the wall/CPU seconds to the first epoch whose validation accuracy reaches
`--target`. The table gives mean +- standard deviation over seeds and says, per variant, whether
the recipes were chosen on it (`--chosen-on`) or are reported on it (not chosen on it).

    python scripts/recipe_bench.py --quick            # one seed, small variants, ~2 minutes
    python scripts/recipe_bench.py --seeds 0 1 2 --chosen-on digits_centred digits28 \
        --workdir data/recipe_bench --json recipe_bench.json --markdown

A variant's images are generated once per seed into `--workdir` (kept there for the next run).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

DEFAULT_CONFIGS = ["recipe_monkeys_scratch", "monkeys_tutorial", "recipe_mnist"]
QUICK_CONFIGS = ["recipe_monkeys_scratch", "recipe_mnist"]
QUICK_VARIANTS = ["monkeys_mnist", "digits28_shift"]
FOLDER_DATASETS = ("monkeys", "directory")
REFERENCE = "plain Keras"
REFERENCE_SIZE = 96  # the reference resizes folder images to 96x96, as the did


# ----- the plain-Keras reference (no cnnzoo imports: it is what a user writes by hand) ---------


def reference_data(path: Path, layout: str, seed: int):
    """(train, validation, test, input shape, classes, flip) for the reference, batched by 32."""
    import keras
    import numpy as np
    import tensorflow as tf

    if layout == "npz":  # 28x28 grey digits: hold out 10% of training, no flips
        with np.load(path) as arrays:
            x, y, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        classes = int(max(y.max(), y_test.max())) + 1
        order = np.random.default_rng(seed).permutation(len(x))
        held, kept = order[: len(x) // 10], order[len(x) // 10 :]

        def batches(indices, images=x, labels=y):
            pairs = (images[indices, ..., None].astype("float32"), np.eye(classes)[labels[indices]])
            return tf.data.Dataset.from_tensor_slices(pairs)

        train = batches(kept).shuffle(len(kept), seed=seed).batch(32)
        test = batches(np.arange(len(x_test)), x_test, y_test).batch(32)
        return train, batches(held).batch(32), test, (28, 28, 1), classes, False
    folders = (
        ("training/training", "validation/validation") if layout == "monkeys" else ("train", "test")
    )
    size = (REFERENCE_SIZE, REFERENCE_SIZE)

    def load(folder):  # decoded and resized once, kept in memory
        return keras.utils.image_dataset_from_directory(
            path / folder, label_mode="categorical", image_size=size, batch_size=None,
            shuffle=False, verbose=False,
        )  # fmt: skip

    train, held_out = load(folders[0]), load(folders[1])
    classes, count = len(train.class_names), len(train.file_paths)
    train = train.cache().shuffle(count, seed=seed).batch(32).prefetch(tf.data.AUTOTUNE)
    held_out = held_out.cache().batch(32).prefetch(tf.data.AUTOTUNE)
    return train, held_out, held_out, (*size, 3), classes, True


def reference(
    data: Path, layout: str, seed: int, deadline: float, launched: float, epochs: int = 0
) -> dict:
    """Train the plain-Keras reference until `deadline` (time.time()), or for exactly `epochs`
    epochs when that is given (its cosine decay then runs over those epochs' steps)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    train, validation, test, shape, classes, flip = reference_data(data, layout, seed)
    inputs = keras.Input(shape)
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.RandomFlip("horizontal")(x) if flip else x
    x = layers.RandomTranslation(0.1, 0.1)(x)
    x = layers.RandomZoom(0.1)(x)
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x) if filters < 256 else x
    x = layers.Dropout(0.2)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))
    rate = 1e-3
    model.compile(
        optimizer=keras.optimizers.AdamW(rate, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )

    steps = int(train.cardinality())

    class Budget(keras.callbacks.Callback):
        """Cosine decay over the wall-clock budget (or the epochs); stop when another epoch
        would not fit in the budget."""

        def on_train_begin(self, logs=None):
            self.start, self.rows = time.time(), []

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start, self.epoch = time.time(), epoch

        def on_train_batch_begin(self, batch, logs=None):
            if epochs:
                done = (self.epoch * steps + batch) / (epochs * steps)
            else:
                done = min(1.0, (time.time() - self.start) / max(deadline - self.start, 1e-9))
            self.model.optimizer.learning_rate.assign(rate * 0.5 * (1 + math.cos(math.pi * done)))

        def on_epoch_end(self, epoch, logs=None):
            now = time.time()
            wall, cpu = now - launched, time.process_time()
            self.rows.append({"val_accuracy": logs["val_accuracy"], "wall": wall, "cpu": cpu})
            self.model.stop_training = not epochs and now + (now - self.epoch_start) > deadline

    budget = Budget()
    fit = {"epochs": epochs or 10_000, "callbacks": [budget], "verbose": 2, "shuffle": False}
    model.fit(train, validation_data=validation, **fit)  # tf.data shuffles each epoch
    test_accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    return {"epochs": budget.rows, "test": float(test_accuracy)}


def reference_worker(argv: list[str]) -> int:
    """`--worker reference ...`: train the reference, write its JSON result."""
    parser = argparse.ArgumentParser()
    for name in ("--data", "--layout", "--seed", "--deadline", "--launched", "--result"):
        parser.add_argument(name, required=True)
    parser.add_argument("--epochs", type=int, default=0)
    args = parser.parse_args(argv)
    deadline, launched = float(args.deadline), float(args.launched)
    record = reference(
        Path(args.data), args.layout, int(args.seed), deadline, launched, args.epochs
    )
    record["cnnzoo_imported"] = any(name.split(".")[0] == "cnnzoo" for name in sys.modules)
    Path(args.result).write_text(json.dumps(record), encoding="utf-8")
    return 0


# ----- running configs and the reference ----------------------------------------------------


def target_reached(epochs: list[dict], target: float) -> dict | None:
    """The first epoch (1-based) whose validation accuracy reaches `target`, with its times."""
    for number, row in enumerate(epochs, 1):
        if row["val_accuracy"] >= target:
            return {"epoch": number, "wall": row["wall"], "cpu": row["cpu"]}
    return None


def summary(runner: str, epochs: list[dict], test: float, process, target: float) -> dict:
    """One run's record."""
    accuracies = [row["val_accuracy"] for row in epochs]
    return {
        "runner": runner,
        "epochs": len(epochs),
        "best_validation": max(accuracies) if accuracies else None,
        "final_validation": accuracies[-1] if accuracies else None,
        "test": test,
        "wall": process.wall,
        "cpu": process.cpu,
        "target": target,
        "time_to_target": target_reached(epochs, target),
        "per_epoch": epochs,
    }


def data_overrides(variant, path: Path, dataset: str) -> list[str]:
    """`--set` values pointing a config of `dataset` at a variant's files."""
    if variant.layout == "npz":
        return [f"data.path={path}"]
    if variant.layout == "monkeys" and dataset == "monkeys":
        return [f"data.path={path}"]
    train, test = (
        ("training/training", "validation/validation")
        if variant.layout == "monkeys"
        else ("train", "test")
    )
    # A folder of class folders of any number of classes: the directory dataset reads it.
    return ["data.dataset=directory", f"data.path={path / train}", f"data.val_path={path / test}"]


def fits(variant, dataset: str) -> bool:
    """Whether a config of `dataset` can train on `variant` (folders or mnist.npz files)."""
    if dataset == "mnist":
        return variant.layout == "npz"
    return dataset in FOLDER_DATASETS and variant.layout != "npz"


def run_config(name: str, variant, path: Path, seed: int, args, out: Path) -> dict:
    """Train config `name` through the CLI on a variant; its record read from the run folder."""
    import benchkit

    from cnnzoo.config.schema import load_config

    dataset = load_config(benchkit.config_file(name)).data.dataset
    run = out / f"{name}-{variant.name}-seed{seed}"
    command = [sys.executable, "-m", "cnnzoo", "train", "-c", name, "--output", str(run)]
    settings = [f"seed={seed}", *data_overrides(variant, path, dataset)]
    if args.epochs:
        settings.append(f"train.epochs={args.epochs}")
    for setting in settings + args.set:
        command += ["--set", setting]
    process = benchkit.run_process(command, log=out / f"{run.name}.log", mark=benchkit.EPOCH_END)
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    epochs = [
        {"val_accuracy": row["val_accuracy"], "wall": wall, "cpu": cpu}
        for row, (wall, cpu) in zip(history, process.marks, strict=True)
    ]
    if variant.layout == "npz":  # the test split is not the validation holdout: score it
        benchkit.run_process(
            [sys.executable, "-m", "cnnzoo", "evaluate", str(run), "--split", "test"]
        )
        test = json.loads((run / "evaluation-test.json").read_text(encoding="utf-8"))["accuracy"]
    else:  # the held-out folder is the validation folder
        test = epochs[-1]["val_accuracy"]
    return summary(name, epochs, test, process, args.target)


def run_reference(variant, path: Path, seed: int, budget: float, args, out: Path) -> dict:
    """The plain-Keras reference in its own process, `budget` whole-process seconds."""
    import benchkit

    result = out / f"reference-{variant.name}-seed{seed}.json"
    launched = time.time()
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "reference"]
    command += ["--data", str(path), "--layout", variant.layout, "--seed", str(seed)]
    command += ["--deadline", str(launched + budget), "--launched", str(launched)]
    command += ["--epochs", str(args.reference_epochs or 0)]
    process = benchkit.run_process(
        [*command, "--result", str(result)], log=result.with_suffix(".log")
    )
    record = json.loads(result.read_text(encoding="utf-8"))
    assert not record["cnnzoo_imported"], "the reference must not import cnnzoo"
    epochs = [
        {"val_accuracy": r["val_accuracy"], "wall": r["wall"], "cpu": r["cpu"]}
        for r in record["epochs"]
    ]
    runner = reference_name(args.reference_epochs)
    budget = None if args.reference_epochs else budget  # JSON has no infinity
    return {**summary(runner, epochs, record["test"], process, args.target), "budget": budget}


def reference_name(epochs: int | None) -> str:
    """The reference's row name: given the same wall time, or a fixed number of epochs."""
    return f"{REFERENCE}, {epochs} epochs" if epochs else REFERENCE


def run_variant(variant, path: Path, seed: int, names: list[str], args, out: Path):
    """Each config on one variant and seed, then the reference; yields each run's record.

    A run that fails is recorded with its error (the benchmark goes on); the reference then
    needs `--budget`, since the first config's wall time is its budget.
    """
    import benchkit

    budget = args.budget or (math.inf if args.reference_epochs else None)
    for runner in [*names, REFERENCE]:
        try:
            if runner != REFERENCE:
                row = run_config(runner, variant, path, seed, args, out)
                budget = budget or (row["wall"] if runner == names[0] else None)
            elif budget is None:
                row = {"runner": runner, "error": f"no budget: {names[0]} failed"}
            else:
                row = run_reference(variant, path, seed, budget, args, out)
        except SystemExit as error:  # the command failed; the message ends in its output
            lines = str(error).splitlines()
            said = [line for line in lines if line.startswith("error:")] or lines[:1]
            row = {"runner": runner, "error": said[-1]}
        said = (
            f"failed: {row['error']}"
            if "error" in row
            else f"test {row['test']:.1%} after {row['epochs']} epochs, {row['wall']:.0f} s wall"
        )
        benchkit.say(f"{variant.name} seed {seed} {row['runner']}: {said}", args.markdown)
        yield row


def commit() -> str:
    """The checkout's commit, with "+changes" when its tracked files differ from it."""
    import subprocess

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=Path(__file__).parent, capture_output=True, text=True
        ).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+changes" if git("status", "--porcelain", "-uno") else ""
    )


# ----- the table ------------------------------------------------------------------------------


def spread(values: list[float], percent: bool = True, digits: int = 1) -> str:
    """'mean +- sd' over seeds (just the mean for one seed); accuracies in percent."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    scale, unit = (100, "%") if percent else (1, "")
    text = f"{statistics.mean(values) * scale:.{digits}f}{unit}"
    if len(values) > 1:
        text += f" \u00b1 {statistics.stdev(values) * scale:.{digits}f}"
    return text


def format_table(rows: list[dict], chosen_on: list[str], markdown: bool) -> str:
    """Mean and spread over seeds per variant and runner; which variants recipes were chosen on."""
    import benchkit

    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["runner"]), []).append(row)
    headers = ["variant", "recipes", "runner", "seeds", "best val", "final val", "test",
               "wall s", "CPU s", "epochs", "to target (wall s)"]  # fmt: skip
    cells = []

    def role(variant: str) -> str:
        return "chosen on" if variant in chosen_on else "reported on"

    for (variant, runner), every in groups.items():
        runs = [run for run in every if "error" not in run]
        seeds = f"{len(runs)}" + (f" ({len(every) - len(runs)} failed)" if every != runs else "")
        if not runs:
            cells.append([variant, role(variant), runner, seeds, *["-"] * 7])
            continue
        reached = [run["time_to_target"]["wall"] for run in runs if run["time_to_target"]]
        to_target = (
            f"{statistics.mean(reached):.0f} ({len(reached)}/{len(runs)})"
            if reached
            else f"not reached (0/{len(runs)})"
        )
        cells.append([
            variant, role(variant), runner, seeds,
            spread([r["best_validation"] for r in runs]),
            spread([r["final_validation"] for r in runs]),
            spread([r["test"] for r in runs]), spread([r["wall"] for r in runs], False, 0),
            spread([r["cpu"] for r in runs], False, 0), spread([r["epochs"] for r in runs], False),
            to_target,
        ])  # fmt: skip
    target = next((row["target"] for row in rows if "target" in row), 0)
    notes = [
        "",
        "",
        f"mean \u00b1 standard deviation over seeds; accuracies on the held-out images (folder "
        f"variants: their one held-out folder is validation and test); to target: whole-process "
        f"wall seconds to validation accuracy {target * 100:g}%, mean over the seeds that "
        "reached it.",
        f"{REFERENCE}: the ~30-line reference in scripts/recipe_bench.py, given the first "
        "config's whole-process wall time on the same variant and seed"
        + (
            "; 'plain Keras, N epochs': the same reference trained for exactly N epochs "
            "(--reference-epochs), its cosine decay over them, in whatever time they take."
            if any(row["runner"].startswith(f"{REFERENCE}, ") for row in rows)
            else "."
        ),
        "recipes: 'chosen on' = the recipes were tuned on this variant (--chosen-on); "
        "'reported on' = they were not.",
    ]
    return benchkit.render(headers, cells, markdown) + "\n".join(notes)


# ----- the command ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--worker", "reference"]:  # before anything imports cnnzoo
        return reference_worker(argv[2:])
    import benchkit
    import variants as variant_kit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", help=f"config names ({' '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--variants", nargs="+", help="variant names (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (0 1 2)")
    parser.add_argument(
        "--chosen-on", nargs="*", default=[], help="variants the recipes were tuned on"
    )
    parser.add_argument("--target", type=float, default=0.8, help="validation accuracy (0.8)")
    parser.add_argument(
        "--budget", type=float, help="the reference's seconds (default: the first config's)"
    )
    parser.add_argument("--epochs", type=int, help="override every config's train.epochs")
    parser.add_argument(
        "--reference-epochs",
        type=int,
        help="train the reference for exactly this many epochs instead of the same wall time",
    )
    parser.add_argument(
        "-s", "--set", action="append", default=[], help="more --set for every config"
    )
    parser.add_argument(
        "--workdir", type=Path, help="variants and runs (default: a new temporary folder)"
    )
    parser.add_argument(
        "--cache", type=Path, default=variant_kit.default_cache(), help="npm tarball cache"
    )
    parser.add_argument("--json", type=Path, help="also write every run's record here")
    args = benchkit.arguments(parser).parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1] if "--seeds" in argv else [0]
        args.configs = args.configs or QUICK_CONFIGS
        args.variants = args.variants or QUICK_VARIANTS
        args.epochs = args.epochs or 1
    configs = args.configs or DEFAULT_CONFIGS
    known = [path.stem for path in benchkit.config_files()]
    unknown = [name for name in configs if name not in known]
    if unknown:  # before anything runs
        print(f"error: unknown config {', '.join(unknown)}; shipped: {', '.join(known)}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        chosen = variant_kit.select(args.variants)
        variant_kit.select(args.chosen_on)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 2
    if args.json and args.json.exists():
        print(
            f"error: {args.json} exists; choose a new --json path (nothing was run).",
            file=sys.stderr,
        )
        return 2
    from cnnzoo.config.schema import load_config

    datasets = {name: load_config(benchkit.config_file(name)).data.dataset for name in configs}
    workdir = args.workdir or Path(__import__("tempfile").mkdtemp(prefix="cnnzoo-recipes-"))
    runs_dir = workdir / "runs" / time.strftime("%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    benchkit.say(f"{benchkit.machine()} at the start; runs in {runs_dir}", args.markdown)
    record = {
        "quick": args.quick,
        "configs": configs,
        "chosen_on": args.chosen_on,
        "seeds": args.seeds,
        "commit": commit(),
        "machine_start": benchkit.machine(),
        "runs": [],
    }
    for variant in chosen:
        names = [name for name in configs if fits(variant, datasets[name])]
        if not names:
            benchkit.say(f"{variant.name}: no config given fits it (skipped)", args.markdown)
            continue
        for seed in args.seeds:
            path = variant_kit.write_variant(
                variant, workdir / "variants", seed, args.quick, args.cache
            )
            for row in run_variant(variant, path, seed, names, args, runs_dir):
                record["runs"].append({"variant": variant.name, "seed": seed, **row})
                # Kept after every run: a benchmark stopped half-way keeps what it measured.
                progress = json.dumps(record, indent=2) + "\n"
                (runs_dir / "results.json").write_text(progress, encoding="utf-8")
    print("\n" + format_table(record["runs"], args.chosen_on, args.markdown) + "\n")
    record["machine_end"] = benchkit.machine()
    benchkit.say(f"{record['machine_end']} at the end", args.markdown)
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
