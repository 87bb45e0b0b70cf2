"""Where a training step's time goes: the TensorFlow profiler over a few steps of one model.

The model is compiled as `cnnzoo train` compiles it (float32) at its default input, and trains on
one in-memory batch. Prints the kernel time per op group and, per convolution, the GFLOP/s of
its forward pass and of its input and weight gradients. Also `bench_peak.py --profile MODEL`.

    python scripts/bench_profile.py tutorial_cnn [--steps 5] [--markdown]
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
from pathlib import Path

import benchkit
from bench_peak import setup

# Op group by pattern, first match wins, searched in a profiled TensorFlow op event
# ("scope/name:Type"); a pattern ending in `[^:]*$` must be in the type, after the last colon.
GROUPS = {
    "Conv2DBackpropFilter[^:]*$": "convolution, weight gradient",
    "Conv2DBackpropInput[^:]*$": "convolution, input gradient",
    "Conv2D[^:]*$": "convolution, forward (+bias, ReLU)",
    "batchnorm|moments|FusedBatchNorm": "batch norm, forward and gradient",
    "MatMul[^:]*$": "dense (matmul)",
    "Pool[^:]*$": "pooling, forward and gradient",
    "adam|Adam|ResourceApply|AssignSub|AssignAdd|AddN|tmp_var": "optimizer updates, gradient sums",
    "Relu[^:]*$": "ReLU gradient",
}


def group(op: str) -> str:
    """The op group a profiled TensorFlow op event ("scope/name:Type") belongs to."""
    found = (name for pattern, name in GROUPS.items() if re.search(pattern, op))
    return next(found, "other (loss, metrics, casts, copies)")


def profile(name: str, steps: int, markdown: bool) -> str:
    """Profile `steps` training steps of `name`; the time per op group and per convolution."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from cnnzoo.evaluation.inspection import model_stats

    model, data, batch = setup(name)
    wall = benchkit.best_step_seconds(model, data, steps, 1).wall / steps
    logdir = Path(tempfile.mkdtemp(prefix="cnnzoo-profile-"))
    tf.profiler.experimental.start(str(logdir))
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(next(logdir.rglob("*.xplane.pb")).read_bytes())
    seconds: collections.Counter[str] = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                op = plane.event_metadata[event.metadata_id].name
                if ":" in op and "/" in op:  # TensorFlow op kernels: "scope/name:Type"
                    seconds[op] += event.duration_ps / 1e12 / steps
    groups: collections.Counter[str] = collections.Counter()
    for op, value in seconds.items():
        groups[group(op)] += value
    total = sum(groups.values())
    lines = [
        f"{name}, batch {batch}: {wall:.3f} s per step (wall); op kernels add up to {total:.3f} s "
        "per step (CPU time of kernels; they may overlap on the two cores)",
        "",
        benchkit.render(
            ["op group", "s/step", "share"],
            [
                [label, f"{value:.3f}", f"{value / total:.0%}"]
                for label, value in groups.most_common()
            ],
            markdown,
        ),
        "",
    ]
    cells = []
    for layer in model_stats(model).layers:
        if layer.kind != "Conv2D":
            continue
        gflop = 2 * layer.multiply_adds * batch / 1e9
        pattern = re.compile(rf"/{re.escape(layer.name)}(_\d+)?/")
        mine = {op: s for op, s in seconds.items() if pattern.search(op)}
        rates = []
        for part in ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"):
            spent = sum(
                s for op, s in mine.items() if group(op) == group(f"x/y:{part}") and part in op
            )
            rates.append(f"{gflop / spent:.0f}" if spent else "-")
        cells.append([layer.name, f"{gflop:.2f}", *rates])
    headers = ["convolution", "GFLOP", "forward GFLOP/s", "input-gradient", "weight-gradient"]
    lines.append(benchkit.render(headers, cells, markdown))
    return "\n".join(lines)


def main() -> None:
    """Profile the model named and print the two tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="tutorial_cnn", help="registered model name")
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    args = benchkit.arguments(parser).parse_args()
    if args.quick:
        args.model, args.steps = "lenet", 1
    print(profile(args.model, args.steps, args.markdown))


if __name__ == "__main__":
    main()
