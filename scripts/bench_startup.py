"""Where the seconds of a short `cnnzoo train` go: start-up, each epoch, and after the last one.

Runs `cnnzoo train` in fresh processes, back to back, `--repeats` times per variant, with
`$CNNZOO_TIMINGS` set (cnnzoo/engine/timings.py: the engine's own record of its phases) and
every output line time-stamped as it comes. Variants: `quickstart` (the bundled MNIST sample),
and `monkeys_tutorial` on a generated folder in the 10 Monkey Species layout for each
`--precision`, with `--chapter` the chapter's Code Tutorial too (scripts/bench_tutorial.py's
worker), on the same folder for the same epochs.

Two tables:
- per run, from the output lines alone (so the chapter's code has them too): whole process,
  before epoch 1 (start to Keras' "Epoch 1/N" line), each epoch (between its epoch lines), and
  after the last epoch line to the exit;
- per cnnzoo variant, phase by phase (median over the repeats, and each repeat): imports, device
  planning, data decode and cache fill, model build and compile, first-step tracing, each
  epoch's training, batch-norm re-estimation, validation and checkpoint, final save, plot, page,
  exit. `fixed` is the whole process minus the imports minus the epochs as run.

    python scripts/bench_startup.py [--configs quickstart monkeys_tutorial] [--repeats 3]
        [--epochs 3] [--precision auto float32] [--chapter] [--set KEY=VALUE ...]
        [--per-class 110] [--val-per-class 27] [--size 300 400] [--imports]

`--imports` adds what `import cnnzoo.engine.training` costs, package by package (python
-X importtime), and which module pulls each heavy package in.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import benchkit

EPOCH_BEGIN = re.compile(r"^Epoch (\d+)/(\d+)")
RUN_FOLDER = re.compile(r"^Run folder: ")
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def stamps(process: benchkit.Process, pattern: re.Pattern[str]) -> list[float]:
    """Seconds since the start at which output lines matching `pattern` came."""
    return [at for at, line in process.lines if pattern.match(line)]


def summary(label: str, process: benchkit.Process) -> dict:
    """Whole process, before epoch 1, each epoch, after the last epoch line: from the lines."""
    begins, ends = stamps(process, EPOCH_BEGIN), stamps(process, benchkit.EPOCH_END)
    first = begins[0] if begins else float("nan")
    epochs = [b - a for a, b in zip([first, *ends], ends, strict=False)]
    return {
        "label": label,
        "whole": process.wall,
        "before": first,
        "epochs": epochs,
        "after": process.wall - ends[-1] if ends else float("nan"),
    }


def read_phases(path: Path, started: float) -> dict[str, tuple[float, float]]:
    """The timing record: phase -> (start, end) in seconds since the process started."""
    phases: dict[str, tuple[float, float]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            start, end = record["start"] - started, record["end"] - started
            if record["phase"] in phases:  # a phase that recurs (the health probe): its total
                first, last = phases[record["phase"]]
                start, end = first, first + (last - first) + (end - start)
            phases[record["phase"]] = (start, end)
    return phases


def breakdown(process: benchkit.Process, phases: dict[str, tuple[float, float]]) -> dict:
    """Phase -> seconds, in the order a run goes through them."""

    def span(name: str) -> float:
        start, end = phases.get(name, (float("nan"),) * 2)
        return end - start

    def between(a: str, b: str, a_end: bool = True) -> float:
        return phases.get(b, (float("nan"),))[0] - phases.get(a, (0.0, float("nan")))[a_end]

    rows: dict[str, float] = {"whole process": process.wall}
    rows["python start, CLI, config"] = phases.get("config checked", (float("nan"),))[0]
    for name in ("imports", "device planning", "data decode and cache fill", "run folder start"):
        rows[name] = span(name)
    rows["batch-norm sample, health monitor"] = span("batch-norm sample and health monitor")
    rows["model build and compile"] = span("model build and compile")
    rows["fit set-up (health probe at start)"] = between("fit", "epoch 1 begin", a_end=False)
    rows["first step (tracing)"] = between("epoch 1 begin", "epoch 1 first step", a_end=False)
    rows["time to first step"] = phases.get("epoch 1 first step", (float("nan"),))[0]
    epochs = sorted(int(m[1]) for n in phases if (m := re.fullmatch(r"epoch (\d+) end", n)))
    walls = []
    for epoch in epochs:
        e = f"epoch {epoch}"
        walls.append(between(f"{e} begin", f"{e} end", a_end=False))
        rows[f"{e} wall"] = walls[-1]
        statistics_ = span(f"{e} batch-norm statistics")
        statistics_ = 0.0 if statistics_ != statistics_ else statistics_  # nan: none ran
        training = between(f"{e} begin", f"{e} validation begin", a_end=False) - statistics_
        rows[f"{e}: training steps"] = training
        rows[f"{e}: batch-norm statistics"] = statistics_
        rows[f"{e}: validation"] = between(f"{e} validation begin", f"{e} validation end", False)
        rows[f"{e}: checkpoint"] = span(f"{e} checkpoint")
    rows["health probes (all)"] = span("health probe")
    last = f"epoch {epochs[-1]} end" if epochs else "fit"
    rows["fit end after the last epoch"] = (
        phases.get("fit", (0.0, float("nan")))[1] - (phases.get(last, (float("nan"),))[0])
    )
    rows["fit end: to on_train_end"] = between(last, "train end", a_end=False)
    rows["fit end: after on_train_end"] = (
        phases.get("fit", (0.0, float("nan")))[1] - phases.get("train end", (float("nan"),))[0]
    )
    for name in ("final save", "history plot", "run folder finish", "report page"):
        rows[name] = span(name)
    folder_line = stamps(process, RUN_FOLDER)
    rows["exit after the last line"] = process.wall - folder_line[-1] if folder_line else 0.0
    rows["after the last epoch"] = process.wall - phases.get(last, (float("nan"),))[0]
    rows["fixed: whole - imports - epochs"] = process.wall - rows["imports"] - sum(walls)
    return rows


def run_cnnzoo(config: str, settings: list[str], workdir: Path, tag: str) -> tuple[dict, dict]:
    """One `cnnzoo train` in a fresh process: its line summary and its phase breakdown."""
    stamp = f"{tag}-{time.strftime('%H%M%S')}-{time.perf_counter_ns() % 10**6}"
    run_dir, record = workdir / f"run-{stamp}", workdir / f"timings-{stamp}.jsonl"
    command = [sys.executable, "-m", "cnnzoo", "train", "--config", config, "-o", str(run_dir)]
    for setting in [f"output_dir={workdir}", *settings]:
        command += ["--set", setting]
    process = benchkit.run_process(
        command, workdir / f"{stamp}.log", benchkit.EPOCH_END, {"CNNZOO_TIMINGS": str(record)}
    )
    return summary(f"cnnzoo {tag}", process), breakdown(
        process, read_phases(record, process.started)
    )


def run_chapter(root: Path, epochs: int) -> dict:
    """The chapter's Code Tutorial (scripts/bench_tutorial.py's worker) in a fresh process."""
    script = str(Path(__file__).with_name("bench_tutorial.py"))
    arguments = ("--root", str(root), "--epochs", str(epochs))
    _, process = benchkit.run_worker(script, "chapter", *arguments, mark=benchkit.EPOCH_END)
    return summary("chapter's code", process)


def summary_table(rows: list[dict], markdown: bool) -> str:
    """One row a run; "x chapter": the same repeat's chapter whole process over this one's."""
    chapter = {row["repeat"]: row["whole"] for row in rows if row["label"].startswith("chapter")}
    headers = ["run", "whole process s", "x chapter", "before epoch 1 s", "epochs s",
               "after last epoch s"]  # fmt: skip
    cells = [
        [
            row["label"],
            f"{row['whole']:.1f}",
            f"{chapter[row['repeat']] / row['whole']:.2f}x" if row["repeat"] in chapter else "",
            f"{row['before']:.1f}",
            ", ".join(f"{e:.1f}" for e in row["epochs"]),
            f"{row['after']:.1f}",
        ]
        for row in rows
    ]
    return benchkit.render(headers, cells, markdown)


def phase_table(label: str, repeats: list[dict], markdown: bool) -> str:
    names = list(dict.fromkeys(name for rows in repeats for name in rows))
    headers = ["phase", f"{label}: median s", *(f"run {i + 1}" for i in range(len(repeats)))]
    cells = []
    for name in names:
        values = [rows.get(name, float("nan")) for rows in repeats]
        known = [v for v in values if v == v]
        median = statistics.median(known) if known else float("nan")
        cells.append([name, f"{median:.2f}", *(f"{v:.2f}" for v in values)])
    return benchkit.render(headers, cells, markdown)


def imports(markdown: bool) -> str:
    """Self time per top-level package of `import cnnzoo.engine.training`, and who pulls it in."""
    code = "import cnnzoo.cli.app; import cnnzoo.engine.training"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=benchkit.REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [
        (int(m[1]) / 1e6, int(m[2]) / 1e6, len(m[3]), m[4])
        for m in map(IMPORT_LINE.match, done.stderr.splitlines())
        if m
    ]
    own: dict[str, float] = defaultdict(float)
    for self_time, _, _, name in rows:
        own[name.split(".")[0]] += self_time
    cells = []
    for package, seconds in sorted(own.items(), key=lambda item: -item[1])[:12]:
        # importtime prints a module after what it imported: its importer is the next line up.
        # The package's costliest import, and who asked for it.
        mine = [i for i, row in enumerate(rows) if row[3].split(".")[0] == package]
        index = max(mine, key=lambda i: rows[i][1])
        chain, indent = [], rows[index][2]
        for _, _, level, name in rows[index + 1 :]:
            if level < indent:
                chain.append(name)
                indent = level
        via = next((n for n in chain if not n.startswith(package)), "")
        first_cnnzoo = next((n for n in chain if n.startswith("cnnzoo")), "")
        cells.append([package, f"{seconds:.2f}", via, first_cnnzoo])
    total = rows[-1][1] if rows else float("nan")
    table = benchkit.render(["package", "self s", "imported by", "cnnzoo module"], cells, markdown)
    return f"import cnnzoo.engine.training: {total:.2f} s in all\n{table}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["quickstart", "monkeys_tutorial"])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, back to back")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", nargs="+", default=["auto"], help="for monkeys_tutorial")
    parser.add_argument("--chapter", action="store_true", help="the chapter's code too")
    parser.add_argument("--set", action="append", default=[], help="extra KEY=VALUE for cnnzoo")
    parser.add_argument("--per-class", type=int, default=110, help="monkeys training JPEGs/class")
    parser.add_argument("--val-per-class", type=int, default=27)
    parser.add_argument("--size", type=int, nargs=2, default=[300, 400], help="JPEG height width")
    parser.add_argument("--imports", action="store_true", help="import costs, package by package")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and runs here")
    args = benchkit.arguments(parser).parse_args()
    if args.quick:
        # Two epochs: Keras prints no "Epoch 1/1" line for a single one.
        args.repeats, args.epochs, args.per_class, args.val_per_class = 1, 2, 3, 1
        args.size = [48, 64]
        args.set = [*args.set, "train.steps_per_epoch=2"]
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="cnnzoo-startup-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    say = lambda text: benchkit.say(text, args.markdown)  # noqa: E731
    say(f"{args.epochs} epochs, {args.repeats} repeats back to back; {benchkit.machine()}")
    if args.imports:
        print("\n" + imports(args.markdown) + "\n")
    variants = []  # (label, config, settings)
    for name in args.configs:
        settings = [f"train.epochs={args.epochs}", *args.set]
        if name != "monkeys_tutorial":
            variants.append((name, name, settings))
            continue
        size = args.size
        root = benchkit.monkeys_folder(workdir, args.per_class, args.val_per_class, size)
        if args.chapter:
            variants.append(("chapter", root, []))
        for precision in args.precision:
            more = [f"data.path={root}", f"hardware.precision={precision}"]
            variants.append((f"{name} {precision}", name, [*settings, *more]))
    runs: list[dict] = []
    phases: dict[str, list[dict]] = defaultdict(list)
    for repeat in range(args.repeats):
        for label, config, settings in variants:
            if label == "chapter":
                runs.append({**run_chapter(config, args.epochs), "repeat": repeat + 1})
                continue
            line_summary, rows = run_cnnzoo(str(config), settings, workdir, label.replace(" ", "-"))
            runs.append({**line_summary, "label": f"cnnzoo {label}", "repeat": repeat + 1})
            phases[label].append(rows)
    for row in runs:
        row["label"] = f"{row['label']} (run {row['repeat']})"
    print("\n" + summary_table(runs, args.markdown) + "\n")
    for label, repeats in phases.items():
        print(phase_table(label, repeats, args.markdown) + "\n")
    say(f"{benchkit.machine()} at the end")


if __name__ == "__main__":
    main()
