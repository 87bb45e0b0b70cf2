"""Pictures of what a network sees: Grad-CAM overlays, feature-map grids, filter grids (Agg).

Each drawing saves atomically, marked as the `kind` of output it is part of (`outputs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnnzoo.utils.outputs import save_figure  # noqa: E402

OVERLAY_ALPHA = 0.45
MAX_CHANNELS = 64  # feature maps drawn per layer; the title says when there are more


def display_image(image: np.ndarray, rescale: float) -> np.ndarray:
    """A preprocessed image (pixels * rescale) back in [0, 1] for drawing; [h, w] if grey."""
    pixels = np.clip(np.asarray(image, np.float32) / (255.0 * rescale), 0.0, 1.0)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """An RGB [h, w, 3] picture: the image with the heatmap (scaled to its max) in jet on top."""
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
    peak = float(heatmap.max())
    scaled = heatmap / peak if peak > 0 else np.zeros_like(heatmap)
    colours = matplotlib.colormaps["jet"](scaled)[..., :3]
    return np.clip((1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours, 0.0, 1.0)


def short(name: str, limit: int = 18) -> str:
    """A class name cut to fit a grid tile's title."""
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def _show(axis, picture: np.ndarray, title: str = "") -> None:
    axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=9)


def _save(figure, path: Path, kind: str, dpi: int = 110) -> Path:
    """Save atomically, marked as cnnzoo's `kind` output, and free the figure."""
    save_figure(figure, path, kind, dpi=dpi)
    plt.close(figure)
    return path


def draw_explanation(
    image: np.ndarray,
    heatmap: np.ndarray,
    top: Sequence[tuple[str, float]],
    path: Path,
    title: str,
    layer: str,
    *,
    kind: str,
) -> Path:
    """The image, its Grad-CAM overlay and the top-k probabilities side by side."""
    figure, axes = plt.subplots(
        1, 3, figsize=(10, 3.4), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 1.2]}
    )
    _show(axes[0], image, title)
    _show(axes[1], overlay(image, heatmap), f"Grad-CAM for {top[0][0]} ({layer})")
    names = [name for name, _ in top][::-1]
    values = [prob for _, prob in top][::-1]
    bars = axes[2].barh(range(len(top)), values, color="#4c72b0")
    axes[2].bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=3, fontsize=8)
    axes[2].set_yticks(range(len(top)), labels=names)
    axes[2].set_xlim(0, 1.15)
    axes[2].set_xlabel("probability")
    axes[2].set_title(f"top {len(top)} classes", fontsize=9)
    return _save(figure, path, kind)


def _grid_shape(count: int, columns: int | None = None) -> tuple[int, int]:
    columns = columns or min(count, max(1, math.ceil(math.sqrt(count))))
    return math.ceil(count / columns), columns


def draw_grid(
    pictures: Sequence[np.ndarray],
    titles: Sequence[str],
    path: Path,
    suptitle: str = "",
    columns: int | None = None,
    tile: float = 2.4,
    colours: Sequence[str] | None = None,
    *,
    kind: str,
) -> Path:
    """Pictures in a labelled grid; `colours` sets each title's colour."""
    rows, cols = _grid_shape(len(pictures), columns)
    figure, axes = plt.subplots(
        rows, cols, figsize=(tile * cols, tile * rows + 0.4), squeeze=False, layout="constrained"
    )
    for index, axis in enumerate(axes.flat):
        if index >= len(pictures):
            axis.axis("off")
            continue
        _show(axis, pictures[index])
        axis.set_title(titles[index], fontsize=8)
        if colours:
            axis.title.set_color(colours[index])
    if suptitle:
        figure.suptitle(suptitle, fontsize=11)
    return _save(figure, path, kind)


def draw_feature_maps(maps: np.ndarray, path: Path, title: str, *, kind: str) -> Path:
    """One layer's activation maps [h, w, channels], each channel on its own scale."""
    channels = maps.shape[-1]
    shown = min(channels, MAX_CHANNELS)
    rows, cols = _grid_shape(shown, min(8, shown))
    tile = 1.3 if maps.shape[0] < 40 else 1.6
    figure, axes = plt.subplots(
        rows, cols, figsize=(tile * cols, tile * rows + 0.5), squeeze=False, layout="constrained"
    )
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= shown:
            axis.axis("off")
            continue
        axis.imshow(maps[..., index], cmap="viridis")
        axis.set_title(str(index), fontsize=7, pad=2)
    more = (
        f", first {shown} of {channels} channels" if shown < channels else f", {channels} channels"
    )
    figure.suptitle(f"{title} ({maps.shape[0]}x{maps.shape[1]}{more})", fontsize=10)
    return _save(figure, path, kind)


def filter_pictures(kernel: np.ndarray) -> list[np.ndarray]:
    """Each filter of a [kh, kw, in, out] kernel as a picture: RGB if 3 inputs, else the mean."""
    pictures = []
    for index in range(kernel.shape[-1]):
        weights = kernel[..., index]
        weights = weights if weights.shape[-1] == 3 else weights.mean(axis=-1)
        low, high = float(weights.min()), float(weights.max())
        pictures.append((weights - low) / (high - low) if high > low else np.zeros_like(weights))
    return pictures


def draw_filters(kernel: np.ndarray, path: Path, title: str, *, kind: str) -> Path:
    """The first convolution's learned filters, each scaled to its own range."""
    pictures = filter_pictures(kernel)
    rows, cols = _grid_shape(len(pictures), min(8, len(pictures)))
    figure, axes = plt.subplots(
        rows, cols, figsize=(1.0 * cols, 1.0 * rows + 0.5), squeeze=False, layout="constrained"
    )
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(pictures):
            axis.axis("off")
            continue
        picture = pictures[index]
        axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
    kh, kw, inputs, outputs = kernel.shape
    colour = "RGB" if inputs == 3 else ("grey" if inputs == 1 else f"mean of {inputs} inputs")
    figure.suptitle(f"{title}: {outputs} filters {kh}x{kw} ({colour})", fontsize=10)
    return _save(figure, path, kind)
