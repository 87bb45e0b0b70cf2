"""The augment preview: a few training images beside augmented versions of them, as a PNG grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from cnnzoo.config.schema import Config
from cnnzoo.data import bad_files
from cnnzoo.data.augment import make_augmenter
from cnnzoo.data.pipeline import decoded, to_target
from cnnzoo.datasets.sources import split_source
from cnnzoo.utils import outputs
from cnnzoo.utils.errors import CnnzooError

KIND = "augment preview"  # what `outputs` calls the picture (marked in its metadata)


def save_preview(config: Config, output: Path, count: int = 4, samples: int = 5) -> Path:
    """Save a PNG grid: `count` training images, each beside `samples` augmented versions.

    `output` is checked before any image is read: a new file or an earlier preview, never a
    file cnnzoo did not write nor anything inside a run folder.
    """
    check_output(output)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    source, class_names = split_source(config.data, config.seed, "train")
    # Spread the picks over the split sorted by class, so they show different classes.
    by_class = np.argsort(source.labels, kind="stable")
    picks = by_class[
        np.linspace(0, len(source) - 1, num=min(count, len(source))).round().astype(int)
    ]
    subset = type(source)(
        source.name,
        source.labels[picks],
        paths=[source.paths[i] for i in picks] if source.paths else None,
        images=source.images[picks] if source.images is not None else None,
    )
    dataset, _, bad, _ = decoded(subset, config, allow_disk=False)
    bad_files.report({source.name: (len(subset), bad)}, config.data.bad_files)
    images, labels = next(iter(dataset.batch(len(picks))))
    picks = picks[: len(labels)]  # a pick that does not decode was named just above
    originals = tf.cast(to_target(images, config), tf.float32)
    augmenter = make_augmenter(config.augment)
    columns = [originals] + [
        augmenter(originals, tf.constant([config.seed, k])) for k in range(1, samples + 1)
    ]
    grey = originals.shape[-1] == 1
    figure, axes = plt.subplots(
        len(picks), samples + 1, figsize=(2 * (samples + 1), 2 * len(picks)), squeeze=False
    )
    for row in range(len(picks)):
        for column, batch in enumerate(columns):
            axis = axes[row][column]
            pixels = np.clip(batch[row].numpy(), 0, 255).astype(np.uint8)
            axis.imshow(pixels[..., 0] if grey else pixels, cmap="gray" if grey else None)
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_title(f"original: {class_names[int(labels[row])]}", fontsize=8)
            elif row == 0:
                axis.set_title(f"augmented {column}", fontsize=8)
    figure.suptitle(f"{config.name}: augment preview (seed {config.seed})", fontsize=10)
    figure.tight_layout()
    outputs.save_figure(figure, output, KIND, dpi=100)
    plt.close(figure)
    return output


def check_output(output: Path) -> None:
    """Refuse an `--output` that is not a .png or .svg name, or not the preview's to write."""
    if output.suffix.lower() not in outputs.FIGURE_SUFFIXES:
        raise CnnzooError(
            f"--output: the preview is saved as PNG or SVG (which record that cnnzoo wrote "
            f"them), so its name must end in {' or '.join(outputs.FIGURE_SUFFIXES)}. Pick a "
            f"name such as {output.stem or 'augment_preview'}.png. Received: {output}"
        )
    outputs.check_destination(output, KIND)
