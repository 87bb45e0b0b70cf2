"""Regenerate every figure of docs/benchmarks.md: run each benchmark, print it with its command.

Each figure is one script run with the arguments below, in a fresh process. The output is printed
under the exact command that produced it, the commit and the whole run's wall time. With
`--write FILE`, each figure also replaces the block between its markers in FILE

    <!-- figures: NAME -->
    ...
    <!-- end figures: NAME -->

and the prose around the markers is left alone. About 40 minutes on two quiet cores;
`--quick` runs every script at a tiny size instead (a check that they run, no figures to quote).

    python scripts/bench_all.py --write docs/benchmarks.md   # on a quiet machine
    python scripts/bench_all.py --quick --only precision     # a quick look at one
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import benchkit

# name: (script, arguments): the commands behind docs/benchmarks.md, in its order.
FIGURES = {
    "pipeline": ("bench_pipeline.py", []),
    "precision": ("bench_precision.py", ["--xla"]),
    # The real set's size (1,098 + 272 images) and the chapter's 30 epochs.
    "tutorial": (
        "bench_tutorial.py",
        ["--per-class", "110", "--val-per-class", "27", "--epochs", "30"],
    ),
    # The issue 21 table: 3-epoch runs, the chapter's code beside cnnzoo auto and float32.
    "startup": (
        "bench_startup.py",
        ["--configs", "quickstart", "monkeys_tutorial", "--chapter"]
        + ["--precision", "auto", "float32", "--repeats", "3"],
    ),
    "peak": ("bench_peak.py", ["--profile", "tutorial_cnn", "--batch-norm"]),
    "accuracy": ("accuracy_table.py", []),
}
BLOCK = "<!-- figures: {name} -->\n{body}\n<!-- end figures: {name} -->"


def _commit() -> str:
    """The short commit of the repo, marked "+changes" when the work tree differs from it."""

    def git(*arguments: str) -> str:
        result = subprocess.run(
            ["git", *arguments], cwd=benchkit.REPO, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return (git("rev-parse", "--short", "HEAD") or "unknown") + (" +changes" if dirty else "")


def run_figure(name: str, quick: bool) -> str:
    """Run one figure's command; its Markdown block body (command, provenance, output)."""
    script, arguments = FIGURES[name]
    arguments = [*arguments, *(["--quick"] if quick else [])]
    shown = " ".join(["python", f"scripts/{script}", *arguments])
    print(f"\n## {name}: {shown}\n", flush=True)
    command = [sys.executable, str(benchkit.REPO / "scripts" / script), *arguments, "--markdown"]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    process = benchkit.run_process(command)
    print(process.output.rstrip(), flush=True)
    return (
        f"`{shown}` at commit {_commit()}, {started}: {process.wall:.0f} s "
        f"({process.cpu:.0f} CPU s) for the whole command.\n\n{process.output.strip()}"
    )


def write(path: Path, bodies: dict[str, str]) -> None:
    """Replace each named block of `path` with its new body; fail before writing if one lacks."""
    text = path.read_text(encoding="utf-8")
    for name, body in bodies.items():
        pattern = re.compile(BLOCK.format(name=re.escape(name), body=r"(?s:.*?)"))
        if not pattern.search(text):
            raise SystemExit(
                f"error: {path} has no block for {name!r}: add the two lines "
                f"'<!-- figures: {name} -->' and '<!-- end figures: {name} -->' where it goes."
            )
        block = BLOCK.format(name=name, body=body)
        text = pattern.sub(lambda _, block=block: block, text)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    print(f"\nwrote {len(bodies)} figure(s) into {path}")


def main() -> None:
    """Run the figures asked for (all by default), print them, write them into the file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(FIGURES), metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks they all run")
    parser.add_argument("--write", type=Path, help="replace the figures' blocks in this file")
    args = parser.parse_args()
    if args.write and not args.write.is_file():
        raise SystemExit(f"error: {args.write} does not exist")
    print(f"{benchkit.machine()}; commit {_commit()}")
    bodies = {name: run_figure(name, args.quick) for name in args.only or FIGURES}
    if args.write:
        write(args.write, bodies)


if __name__ == "__main__":
    main()
