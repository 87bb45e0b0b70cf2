"""`cnnzoo explain` and `cnnzoo featuremaps`: a run's model on the user's images, drawn.

Images are read with `cnnzoo.data.pipeline.load_images`, exactly as `cnnzoo predict` and training
preprocess them. Everything else comes from the run folder. Every file is written atomically
(`outputs.staged_file`, `outputs.save_figure`): an interrupted command leaves no half-written
picture or heatmap under its final name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnzoo.evaluation.predict import read_images, top_classes
from cnnzoo.runs.folder import RunFolder, open_run
from cnnzoo.utils import outputs
from cnnzoo.utils.errors import CnnzooError, ConfigError

EXPLAIN_DIR = "explain"
FEATUREMAPS_DIR = "featuremaps"


@dataclass(frozen=True)
class Explanation:
    """One image's top classes, the layer explained, and the files written for it."""

    path: Path
    top: list[tuple[str, float]]
    layer: str
    heatmap_file: Path  # .npy, [height, width] float32 at the model input's resolution
    picture: Path | None  # the PNG (None when the images share a grid)


@dataclass
class ExplainReport:
    """What `explain` wrote, and (path, reason) for the images it could not read."""

    explanations: list[Explanation] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    grid: Path | None = None


def _read_images(run: RunFolder, paths: Sequence[str | Path]):
    """(readable paths, preprocessed images, failures), as `cnnzoo predict` reads them; the
    files of a folder that are not images are skipped with a warning."""
    from cnnzoo.data.bad_files import BadFilesWarning

    read = read_images(paths, run.config)
    for path, reason in read.skipped:
        warnings.warn(f"{path}: skipped, {reason}", BadFilesWarning, stacklevel=2)
    return read.paths, read.images, read.failures


def _check_output(run: RunFolder, output: Path | None, kind: str) -> Path:
    """The pictures' folder: new, empty, or an earlier one of `kind`; checked before any work."""
    own = run.path / kind
    folder = Path(output) if output is not None else own
    what = "--output" if output is not None else kind
    outputs.check_destination(folder, kind, what=what, folder=True, run=run.path, default=own)
    return folder


def _make_folder(run: RunFolder, folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if outputs.folder_record(folder) is None:
        outputs.mark_folder(folder, kind, run=str(run.path.resolve()))
    return folder


def explain_images(
    run_dir: str | Path,
    paths: Sequence[str | Path],
    layer: str | None = None,
    top_k: int = 3,
    output: Path | None = None,
    grid: bool = False,
) -> ExplainReport:
    """Grad-CAM for each readable image: PNG (or one grid) plus the heatmap as .npy."""
    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1. Received: {top_k}")
    run = open_run(run_dir)
    folder = _check_output(run, output, EXPLAIN_DIR)
    class_names = run.require_classes()
    model = run.load_model()
    from cnnzoo.explain import gradcam as explain
    from cnnzoo.visualization import explain_draw

    layer = layer or explain.default_layer(model)
    explain.check_layers(model, [layer])
    readable, images, failures = _read_images(run, paths)
    report = ExplainReport(failures=failures)
    if not readable:
        return report
    _make_folder(run, folder, EXPLAIN_DIR)
    cam = explain.grad_cam(model, images, layer)
    heatmaps = explain.upsample(cam.maps, images.shape[1:3])
    tops = top_classes(cam.probabilities, class_names, min(top_k, len(class_names)))
    rescale = run.config.augment.rescale
    taken: set[str] = set()
    pictures, titles = [], []
    for path, image, heatmap, top in zip(readable, images, heatmaps, tops, strict=True):
        npy = explain.output_name(folder, path.stem, ".gradcam.npy", taken)
        with outputs.staged_file(npy) as temp:
            np.save(temp, heatmap)
        shown = explain_draw.display_image(image, rescale)
        picture = None
        if grid:
            pictures.append(explain_draw.overlay(shown, heatmap))
            titles.append(f"{path.name}\n{top[0][0]} {top[0][1]:.2f}")
        else:
            picture = npy.with_name(npy.name.replace(".npy", ".png"))
            explain_draw.draw_explanation(
                shown, heatmap, top, picture, path.name, layer, kind=EXPLAIN_DIR
            )
        report.explanations.append(Explanation(path, top, layer, npy, picture))
    if grid:
        report.grid = explain_draw.draw_grid(
            pictures,
            titles,
            folder / "gradcam-grid.png",
            f"{run.label}: Grad-CAM at {layer}",
            kind=EXPLAIN_DIR,
        )
    return report


@dataclass(frozen=True)
class FeatureMaps:
    """The feature-map grids (one per layer) and the first layer's filter grid."""

    image: Path
    layers: list[str]
    files: list[Path]


def feature_maps(
    run_dir: str | Path,
    image: str | Path,
    layers: Sequence[str] = (),
    output: Path | None = None,
) -> FeatureMaps:
    """Activation grids of one image through each convolution stage (or `layers`), and filters."""
    run = open_run(run_dir)
    folder = _check_output(run, output, FEATUREMAPS_DIR)
    model = run.load_model()
    from cnnzoo.explain import gradcam as explain
    from cnnzoo.visualization import explain_draw

    model = explain.as_float32(model)
    chosen = explain.check_layers(model, list(layers)) if layers else None
    chosen = chosen or explain.convolution_stages(model)
    image = Path(image)
    if image.is_dir():
        raise CnnzooError(f"featuremaps takes one image file; {image} is a folder.")
    readable, images, failures = _read_images(run, [image])
    if failures:
        path, reason = failures[0]
        raise CnnzooError(f"Cannot read image {path}: {reason}.")
    _make_folder(run, folder, FEATUREMAPS_DIR)
    files = []
    stem = readable[0].stem
    for index, (name, maps) in enumerate(
        zip(chosen, explain.activations(model, images[:1], chosen), strict=True), start=1
    ):
        path = folder / f"{stem}.{index:02d}-{name}.png"
        title = f"{image.name}: {name}"
        files.append(explain_draw.draw_feature_maps(maps[0], path, title, kind=FEATUREMAPS_DIR))
    conv, kernel = explain.first_conv_kernel(model)
    filters, title = folder / f"filters-{conv}.png", f"{run.label} {conv}"
    files.append(explain_draw.draw_filters(kernel, filters, title, kind=FEATUREMAPS_DIR))
    return FeatureMaps(readable[0], list(chosen), files)
