"""Parameters and multiply-adds of the registered models, counted by walking their Keras layers.

A multiply-add (one multiplication plus one addition, counted as one operation as the chapter
does) is what a convolution or dense layer spends per kernel weight per output position:
`kernel.size * output positions`. Biases, batch normalisation, activations and pooling are not
multiply-adds and count zero. Nothing is trained or run: the figures are pure arithmetic on
the layers' kernel shapes and output shapes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import keras
from keras import layers

from cnnzoo.config.schema import model_options
from cnnzoo.models import MODELS, check_input_shape, pretrained
from cnnzoo.models.blocks import apply_inception_block
from cnnzoo.utils.errors import ConfigError

# Layers whose every kernel weight meets every output position once (depthwise and separable
# convolutions subclass or mirror these and are not used by the registered models).
WEIGHTED_LAYERS = (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.Dense)


@dataclass(frozen=True)
class LayerStats:
    """One layer's name, type, output shape, parameters and multiply-adds."""

    name: str
    kind: str
    output_shape: tuple[int | None, ...]
    params: int
    multiply_adds: int


@dataclass(frozen=True)
class ModelStats:
    """A built model's size and cost, with its per-layer breakdown."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    options: dict[str, Any]
    trainable_params: int
    non_trainable_params: int
    multiply_adds: int
    layers: list[LayerStats] = field(default_factory=list)

    @property
    def params(self) -> int:
        """All parameters, trainable or not."""
        return self.trainable_params + self.non_trainable_params

    def to_dict(self, with_layers: bool = True) -> dict[str, Any]:
        """Plain data for JSON output."""
        data = asdict(self)
        data["params"] = self.params
        if not with_layers:
            del data["layers"]
        return data


def multiply_adds(layer: keras.layers.Layer) -> int:
    """The multiply-adds one example costs in `layer`: kernel size x output positions."""
    if not isinstance(layer, WEIGHTED_LAYERS):
        return 0
    positions = math.prod(layer.output.shape[1:-1])  # height x width for Conv2D, 1 for Dense
    return math.prod(layer.kernel.shape) * positions


def _weight_count(weights: list[Any]) -> int:
    return sum(math.prod(weight.shape) for weight in weights)


def model_stats(model: keras.Model, options: dict[str, Any] | None = None) -> ModelStats:
    """Count the parameters and multiply-adds of a built functional model, layer by layer."""
    rows = [
        LayerStats(
            name=layer.name,
            kind=type(layer).__name__,
            output_shape=tuple(layer.output.shape),
            params=_weight_count(layer.weights),
            multiply_adds=multiply_adds(layer),
        )
        for layer in model.layers
    ]
    return ModelStats(
        name=model.name,
        input_shape=tuple(model.input_shape[1:]),  # type: ignore[arg-type]
        num_classes=int(model.output_shape[-1]),
        options=dict(options or {}),
        trainable_params=_weight_count(model.trainable_weights),
        non_trainable_params=_weight_count(model.non_trainable_weights),
        multiply_adds=sum(row.multiply_adds for row in rows),
        layers=rows,
    )


def describe(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    options: dict[str, Any] | None = None,
) -> ModelStats:
    """Build registered model `name` (defaults: its reference input and classes) and count it."""
    spec = MODELS.get(name)
    input_shape = input_shape or spec.default_input_shape
    num_classes = num_classes or spec.default_num_classes
    options = model_options(name, options or {}, source=f"{name} options").options
    check_input_shape(name, input_shape, options)
    # Counting needs the layers, not pretrained values: `weights` is left out (no download).
    layout = {key: value for key, value in options.items() if key != "weights"}
    model = spec.build(input_shape, num_classes, **layout)
    return model_stats(model, options)


def inception_table() -> list[dict[str, Any]]:
    """The chapter's table: Inception (3a) vs one 3x3 and one 5x5 conv, 28x28x192 -> 256 channels.

    Parameters exclude biases and a multiply-add counts as one operation, as in the chapter.
    """
    candidates = {
        "Inception": lambda x: apply_inception_block(x, 64, (96, 128), (16, 32), 32, name="3a"),
        "3x3 Conv": lambda x: layers.Conv2D(256, 3, padding="same", name="conv3x3")(x),
        "5x5 Conv": lambda x: layers.Conv2D(256, 5, padding="same", name="conv5x5")(x),
    }
    rows = []
    for label, apply in candidates.items():
        inputs = keras.Input(shape=(28, 28, 192), name="feature_map")
        model = keras.Model(inputs, apply(inputs), name=label)
        assert model.output_shape == (None, 28, 28, 256), model.output_shape
        weighted = [layer for layer in model.layers if isinstance(layer, WEIGHTED_LAYERS)]
        params = sum(math.prod(layer.kernel.shape) for layer in weighted)
        operations = sum(multiply_adds(layer) for layer in weighted)
        rows.append(
            {
                "name": label,
                "parameters": params,
                "multiply_adds": operations,
                # The chapter truncates: 1,228,800 weights print as 1.22 M, 346.8 M ops as 346 M.
                "parameters_millions": math.floor(params / 1e4) / 100,
                "multiply_adds_millions": math.floor(operations / 1e6),
            }
        )
    return rows


def list_models(
    input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None
) -> list[dict[str, Any]]:
    """Every registered model with its description and counts, or why the input does not fit."""
    entries = []
    for name in MODELS:
        spec = MODELS.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "summary": spec.summary,
            "paper": spec.paper,
            "option_choices": spec.option_choices(),
            "pretrained": pretrained.describe(name) or None,
        }
        try:
            entry.update(describe(name, input_shape, num_classes).to_dict(with_layers=False))
        except ConfigError as error:
            entry.update(input_shape=input_shape, num_classes=num_classes, error=str(error))
        entries.append(entry)
    return entries


def _shape(shape: tuple[int | None, ...]) -> str:
    return "x".join("?" if size is None else str(size) for size in shape)


def _short(count: int) -> str:
    """1,814,073,344 -> '1.81 G'; 61,706 -> '61.7 K'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return str(count)


def _totals(entry: dict[str, Any], exact: bool = False) -> str:
    operations = _short(entry["multiply_adds"])
    if exact:
        operations = f"{entry['multiply_adds']:,} ({operations})"
    return (
        f"{_shape(entry['input_shape'])}, {entry['num_classes']} classes: "
        f"{entry['params']:,} params ({entry['trainable_params']:,} trainable), "
        f"{operations} multiply-adds"
    )


def format_listing(entries: list[dict[str, Any]]) -> str:
    """The `cnnzoo models` listing: four lines per model, a fifth for pretrained weights."""
    width = max(len(entry["name"]) for entry in entries)
    lines = []
    for entry in entries:
        pad = " " * (width + 2)
        lines.append(f"{entry['name']:<{width}}  {entry['summary']}")
        lines.append(f"{pad}{entry['paper']}")
        lines.append(pad + (f"refused: {entry['error']}" if "error" in entry else _totals(entry)))
        choices = "; ".join(f"{key}: {text}" for key, text in entry["option_choices"].items())
        lines.append(f"{pad}options: {choices or 'none'}")
        if entry.get("pretrained"):
            lines.append(f"{pad}pretrained weights (model.weights): {entry['pretrained']}")
    return "\n".join(lines)


def format_model(stats: ModelStats) -> str:
    """The `cnnzoo models NAME` report: a layer table and the totals."""
    header = ("layer", "type", "output shape", "params", "multiply-adds")
    rows = [header] + [
        (
            row.name,
            row.kind,
            _shape(row.output_shape[1:]),
            f"{row.params:,}",
            f"{row.multiply_adds:,}",
        )
        for row in stats.layers
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(width) if column >= 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    options = ", ".join(f"{key}={value!r}" for key, value in stats.options.items()) or "none"
    lines += [
        "",
        f"{stats.name} (options: {options})",
        _totals(stats.to_dict(with_layers=False), exact=True),
    ]
    return "\n".join(lines)


def format_inception_table(rows: list[dict[str, Any]]) -> str:
    """The chapter's Inception table, exact and at the chapter's precision."""
    lines = [
        "The chapter's table: Inception block (3a) vs one convolution, 28x28x192 in, 256 out",
        "Biases excluded and a multiply-add counted as one operation, as in the chapter;",
        "in brackets, truncated to the chapter's precision.",
        "",
        f"{'':<10} {'parameters':>20} {'multiply-adds':>22}",
    ]
    for row in rows:
        params = f"{row['parameters']:,} ({row['parameters_millions']:.2f} M)"
        operations = f"{row['multiply_adds']:,} ({row['multiply_adds_millions']} M)"
        lines.append(f"{row['name']:<10} {params:>20} {operations:>22}")
    return "\n".join(lines)
