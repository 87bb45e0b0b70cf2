"""The model registry: every architecture builds, trains, saves and counts as its paper says."""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.config.schema import load_config, resolve
from cnnzoo.evaluation import inspection
from cnnzoo.models import MODELS, check_input_shape, parse_input_shape
from cnnzoo.utils.errors import ConfigError

from .helpers import python_prints

NAMES = MODELS.names()
CONFIGS = sorted((Path(__file__).parents[1] / "cnnzoo" / "configs").glob("*.yaml"))
MNIST_SHAPE = (28, 28, 1)
RGB_SHAPE = (36, 44, 3)  # small and not square, so height/width mix-ups show


def small_options(name: str, input_shape: tuple[int, int, int]) -> dict:
    """Resize inside the model only where the input is below the model's smallest size."""
    smallest = MODELS.get(name).min_input_size
    return {"resize_to": smallest} if min(input_shape[:2]) < smallest else {}


def build(name: str, input_shape: tuple[int, int, int], num_classes: int = 3) -> keras.Model:
    """Build a registered model the way training does, small enough for a fast test."""
    return MODELS.get(name).builder()(input_shape, num_classes, **small_options(name, input_shape))


def images(input_shape: tuple[int, int, int], count: int = 4, seed: int = 0) -> np.ndarray:
    """Random images in [0, 1], as the pipelines feed them."""
    return np.random.default_rng(seed).random((count, *input_shape), dtype=np.float32)


# ----- the registry and the builders agree ---------------------------------------------------


@pytest.mark.fast
def test_registry_has_the_chapters_five_models() -> None:
    assert NAMES == ["tutorial_cnn", "lenet", "alexnet", "googlenet", "resnet18"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.fast
def test_spec_options_are_the_builders_keyword_defaults(name: str) -> None:
    spec = MODELS.get(name)
    parameters = list(inspect.signature(spec.builder()).parameters.values())
    assert [p.name for p in parameters[:2]] == ["input_shape", "num_classes"]
    keywords = parameters[2:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in keywords)
    assert {p.name: p.default for p in keywords} == spec.options
    # The schema validates its own defaults (validate_default), so they are accepted values.
    assert spec.schema().options == spec.options
    assert spec.schema.model_fields["name"].default == name


@pytest.mark.fast
def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r'Known: tutorial_cnn, .*resnet18.*"resnet18"'):
        MODELS.get("resnet-18")


# ----- every model builds, predicts, trains and round-trips ---------------------------------


@pytest.mark.parametrize("input_shape", [MNIST_SHAPE, RGB_SHAPE], ids=["mnist", "rgb"])
@pytest.mark.parametrize("name", NAMES)
def test_builds_and_outputs_class_probabilities(name: str, input_shape: tuple) -> None:
    model = build(name, input_shape, num_classes=5)
    assert model.input_shape == (None, *input_shape)
    probabilities = model.predict(images(input_shape), verbose=0)
    assert probabilities.shape == (4, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_every_layer_is_named(name: str) -> None:
    # Keras numbers auto-generated names (conv2d, conv2d_1, ...), so only explicitly named
    # layers come out the same in a second build.
    first = [layer.name for layer in build(name, MNIST_SHAPE).layers]
    second = [layer.name for layer in build(name, MNIST_SHAPE).layers]
    assert first == second
    assert len(set(first)) == len(first)


@pytest.mark.parametrize("name", NAMES)
def test_softmax_stays_float32_under_mixed_precision(name: str) -> None:
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = build(name, MNIST_SHAPE)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model.outputs[0].dtype == "float32"
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions[0].compute_dtype == "float16"


def _loss_without_dropout(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    # Training mode (batch statistics in batch normalisation), so it is the function the step
    # descends; dropout is off in the builds below so that two measurements compare. With a
    # small plain-SGD step (1e-3) the loss falls for every model and seed tried: by 3e-5 of
    # itself for AlexNet and GoogLeNet (float32 noise is ~1e-7), by over half for ResNet-18.
    probabilities = model(x, training=True)
    return float(keras.losses.categorical_crossentropy(y, probabilities).numpy().mean())


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_lowers_the_loss(name: str) -> None:
    keras.utils.set_random_seed(1)
    model = build(name, MNIST_SHAPE)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    x = images(MNIST_SHAPE, count=8)
    y = keras.utils.to_categorical(np.arange(8) % 3, 3)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="categorical_crossentropy")
    model.run_eagerly = True  # one step needs no graph tracing
    before = _loss_without_dropout(model, x, y)
    model.train_on_batch(x, y)
    after = _loss_without_dropout(model, x, y)
    assert after < before


@pytest.mark.parametrize("name", NAMES)
def test_keras_save_and_load_gives_identical_predictions(name: str, tmp_path: Path) -> None:
    model = build(name, RGB_SHAPE)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = images(RGB_SHAPE, seed=2)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


# ----- inputs that are too small are refused, naming the smallest that works ----------------


@pytest.mark.parametrize("name", NAMES)
def test_smallest_input_size_is_exact(name: str) -> None:
    smallest = MODELS.get(name).min_input_size
    build_ = MODELS.get(name).builder()
    check_input_shape(name, (smallest, smallest, 1))
    assert build_((smallest, smallest, 1), 2).output_shape == (None, 2)
    if smallest > 1:
        with pytest.raises(ValueError):
            build_((smallest - 1, smallest - 1, 1), 2)
        with pytest.raises(ConfigError, match=rf"at least {smallest}x{smallest} pixels"):
            check_input_shape(name, (smallest - 1, 64, 3))


@pytest.mark.fast
def test_config_too_small_for_the_model_is_refused_before_training() -> None:
    data = {"data": {"dataset": "mnist"}, "model": {"name": "alexnet"}}
    with pytest.raises(ConfigError) as error:
        resolve(data, "mnist.yaml")
    message = str(error.value)
    assert message.startswith("mnist.yaml: ")
    assert "at least 67x67 pixels" in message and "model.resize_to" in message
    assert "Received: input shape 28x28x1" in message
    resized = resolve({**data, "model": {"name": "alexnet", "resize_to": 224}}, "mnist.yaml")
    assert resized.model.options == {"resize_to": 224}


@pytest.mark.parametrize("resize_to", [66, 0, "big", 224.0, True])
@pytest.mark.fast
def test_resize_to_must_be_a_large_enough_integer(resize_to: object) -> None:
    data = {"data": {"dataset": "mnist"}, "model": {"name": "alexnet", "resize_to": resize_to}}
    with pytest.raises(ConfigError, match=r"model.resize_to: .*at least 67 pixels"):
        resolve(data, "mnist.yaml")


@pytest.mark.fast
def test_config_validate_refuses_a_too_small_input(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("data:\n  image_size: [12, 12]\nmodel:\n  name: tutorial_cnn\n")
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "config", "validate", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "at least 13x13 pixels" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.fast
def test_input_shape_parsing() -> None:
    assert parse_input_shape("28,28,1") == (28, 28, 1)
    assert parse_input_shape("224x224x3") == (224, 224, 3)
    for bad in ["28,28", "a,b,c", "0,28,1", "28,28,1,1"]:
        with pytest.raises(ConfigError, match="HEIGHT,WIDTH,CHANNELS"):
            parse_input_shape(bad)


@pytest.mark.fast
def test_registry_and_config_checks_import_no_tensorflow() -> None:
    code = (
        "import sys; from cnnzoo.models import check_input_shape; import cnnzoo.config.schema; "
        "check_input_shape('resnet18', (28, 28, 1), {'resize_to': 96}); "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    assert python_prints(code) == ["[]"]


@pytest.mark.parametrize("path", CONFIGS, ids=[path.name for path in CONFIGS])
@pytest.mark.fast
def test_configs_resolve_and_fit_their_model(path: Path) -> None:
    config = load_config(path)
    spec = MODELS.get(config.model.name)
    check_input_shape(spec.name, config.image_shape, config.model.options)
    assert set(config.model.options) == set(spec.options)


@pytest.mark.parametrize("path", CONFIGS, ids=[path.name for path in CONFIGS])
def test_configs_build_at_their_input(path: Path) -> None:
    config = load_config(path)
    stats = inspection.describe(config.model.name, config.image_shape, 10, config.model.options)
    assert stats.input_shape == config.image_shape and stats.num_classes == 10


# ----- parameter and multiply-add counts pinned against the references ----------------------


def test_resnet18_matches_torchvision() -> None:
    stats = inspection.describe("resnet18", (224, 224, 3), 1000)
    # torchvision.models.resnet18(): sum(p.numel() for p in model.parameters()) == 11,689,512;
    # the batch-norm running means and variances (9,600 numbers) are buffers, not parameters.
    assert stats.trainable_params == 11_689_512
    assert stats.non_trainable_params == 9_600
    # torchvision lists 1.81 GFLOPS (multiply-adds of the convolutions and the classifier).
    assert stats.multiply_adds == 1_814_073_344
    kinds = [row.kind for row in stats.layers]
    # 7x7 stem + 16 block convs + 3 projections = 20 convolutions, each followed by batch norm.
    assert kinds.count("Conv2D") == 20 and kinds.count("BatchNormalization") == 20
    assert kinds.count("Add") == 8 and stats.layers[-1].output_shape == (None, 1000)


def test_alexnet_matches_the_paper_and_the_book() -> None:
    # Weights + biases: conv1 11*11*3*96+96 = 34,944; conv2 5*5*96*256+256 = 614,656;
    # conv3 3*3*256*384+384 = 885,120; conv4 3*3*384*384+384 = 1,327,488;
    # conv5 3*3*384*256+256 = 884,992; fc7 4096*4096+4096 = 16,781,312;
    # predictions 4096*1000+1000 = 4,097,000; fc6 takes the flattened pool5 output.
    shared = 34_944 + 614_656 + 885_120 + 1_327_488 + 884_992 + 16_781_312 + 4_097_000
    # The paper's 227x227 input: pool5 is 6x6x256 = 9,216 features, fc6 = 9216*4096+4096.
    # 62,378,344 is the usual one-stream AlexNet count (the two-GPU split drops ~1.4 M).
    paper = inspection.describe("alexnet", (227, 227, 3), 1000)
    assert paper.params == shared + 9_216 * 4_096 + 4_096 == 62_378_344
    assert paper.layers[-1].output_shape == (None, 1000)
    assert [row.output_shape[1:] for row in paper.layers if row.kind == "MaxPooling2D"] == [
        (27, 27, 96),
        (13, 13, 256),
        (6, 6, 256),
    ]
    # The book's 224x224 input: pool5 is 5x5x256 = 6,400 features.
    book = inspection.describe("alexnet", (224, 224, 3), 1000)
    assert book.params == shared + 6_400 * 4_096 + 4_096 == 50_844_008
    assert book.multiply_adds == 1_009_945_728


# Szegedy et al. 2015, Table 1, per Inception block: output size, then #1x1, #3x3 reduce, #3x3,
# #5x5 reduce, #5x5, pool proj. (Its params and ops columns are approximate and partly
# inconsistent with these channels, e.g. 4c and 5a, so the counts are pinned below instead.)
GOOGLENET_TABLE_1 = {
    "3a": ((28, 28, 256), 64, 96, 128, 16, 32, 32),
    "3b": ((28, 28, 480), 128, 128, 192, 32, 96, 64),
    "4a": ((14, 14, 512), 192, 96, 208, 16, 48, 64),
    "4b": ((14, 14, 512), 160, 112, 224, 24, 64, 64),
    "4c": ((14, 14, 512), 128, 128, 256, 24, 64, 64),
    "4d": ((14, 14, 528), 112, 144, 288, 32, 64, 64),
    "4e": ((14, 14, 832), 256, 160, 320, 32, 128, 128),
    "5a": ((7, 7, 832), 256, 160, 320, 32, 128, 128),
    "5b": ((7, 7, 1024), 384, 192, 384, 48, 128, 128),
}
PATHS = ["1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj"]


def test_googlenet_matches_the_papers_table_1() -> None:
    keras.backend.clear_session()
    model = MODELS.get("googlenet").builder()((224, 224, 3), 1000)
    for block, (output_size, *filters) in GOOGLENET_TABLE_1.items():
        name = f"inception_{block}"
        assert model.get_layer(f"{name}_output").output.shape == (None, *output_size)
        built = [model.get_layer(f"{name}_{path}").filters for path in PATHS]
        assert built == filters, block
    stats = inspection.model_stats(model)
    # Weights + biases: stem 7*7*3*64+64 + 1*1*64*64+64 + 3*3*64*192+192 = 124,416; the nine
    # blocks 5,849,136; the classifier 1024*1000+1000 = 1,025,000.
    assert stats.params == stats.trainable_params == 124_416 + 5_849_136 + 1_025_000 == 6_998_552
    # The paper budgets "1.5 billion multiply-adds at inference time".
    assert stats.multiply_adds == 1_582_671_872
    # Table 1's first Inception rows agree: 3a 159K weights (K = 1024) and 128M ops; 3b 304M ops.
    weights_3a = sum(
        math.prod(model.get_layer(f"inception_3a_{path}").kernel.shape) for path in PATHS
    )
    assert (weights_3a // 1024, weights_3a * 28 * 28 // 10**6) == (159, 128)
    assert (
        sum(inspection.multiply_adds(model.get_layer(f"inception_3b_{p}")) for p in PATHS)
        // (10**6)
        == 304
    )


def test_tutorial_cnn_matches_the_chapter() -> None:
    stats = inspection.describe("tutorial_cnn", (128, 128, 3), 10)
    # conv 3*3*3*32+32 = 896, 3*3*32*64+64 = 18,496, 3*3*64*128+128 = 73,856; batch norm
    # 4 per channel (2 trainable) = 896; Flatten 15*15*128 = 28,800 -> dense 28800*128+128 =
    # 3,686,528; softmax 128*10+10 = 1,290. Keras' summary() shows the same totals.
    assert stats.params == 896 + 18_496 + 73_856 + 896 + 3_686_528 + 1_290 == 3_781_962
    assert stats.trainable_params == 3_781_514 and stats.non_trainable_params == 448
    shapes = [row.output_shape[1:] for row in stats.layers if row.kind == "MaxPooling2D"]
    assert shapes == [(64, 64, 32), (31, 31, 64), (15, 15, 128)]
    kinds = [row.kind for row in stats.layers]
    assert kinds == ["InputLayer"] + ["Conv2D", "BatchNormalization", "MaxPooling2D"] * 3 + [
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]


# ----- the tutorial CNN's small-data options (off by default) ---------------------------------


# Weights + biases of a 3x3 conv from `inputs` to `filters` channels; batch norm keeps 4 numbers
# per channel (gamma and beta trainable, the moving mean and variance not).
def _conv(inputs: int, filters: int) -> int:
    return 3 * 3 * inputs * filters + filters


def test_tutorial_cnn_defaults_are_the_chapters_model() -> None:
    explicit = {"head": "flatten", "width": 1.0, "blocks": 3}
    assert MODELS.get("tutorial_cnn").options == explicit
    assert load_config("monkeys_tutorial").model.options == explicit
    default = inspection.describe("tutorial_cnn", (128, 128, 3), 10)
    assert inspection.describe("tutorial_cnn", (128, 128, 3), 10, explicit) == default
    assert default.params == 3_781_962  # test_tutorial_cnn_matches_the_chapter's count


def test_tutorial_cnn_global_average_pool_head() -> None:
    stats = inspection.describe("tutorial_cnn", (128, 128, 3), 10, {"head": "global_average_pool"})
    # The same convs and batch norm; the dense layer takes the 128 channel means, not
    # 15*15*128 = 28,800 positions: 128*128+128 = 16,512 weights instead of 3,686,528.
    convs = _conv(3, 32) + _conv(32, 64) + _conv(64, 128)
    assert stats.params == convs + 4 * (32 + 64 + 128) + (128 * 128 + 128) + (128 * 10 + 10)
    assert stats.params == 111_946 and stats.non_trainable_params == 2 * (32 + 64 + 128)
    kinds = [row.kind for row in stats.layers]
    assert "Flatten" not in kinds and kinds[kinds.index("GlobalAveragePooling2D") + 1] == "Dense"
    assert stats.layers[kinds.index("GlobalAveragePooling2D")].output_shape == (None, 128)
    # Its parameter count no longer depends on the image size; the flatten head's does.
    for head, same in (("global_average_pool", True), ("flatten", False)):
        counts = {
            inspection.describe("tutorial_cnn", shape, 10, {"head": head}).params
            for shape in [(64, 64, 3), (200, 160, 3)]
        }
        assert (len(counts) == 1) is same, head


@pytest.mark.parametrize(
    ("width", "filters"), [(2.0, (64, 128, 256)), (0.5, (16, 32, 64)), (1.5, (48, 96, 192))]
)
def test_tutorial_cnn_width_multiplies_the_filters(width: float, filters: tuple) -> None:
    stats = inspection.describe("tutorial_cnn", (128, 128, 3), 10, {"width": width})
    first, second, third = filters
    convs = _conv(3, first) + _conv(first, second) + _conv(second, third)
    dense = 15 * 15 * third * 128 + 128  # the pooled map stays 15x15, with `third` channels
    assert stats.params == convs + 4 * sum(filters) + dense + 1_290
    shapes = [row.output_shape[1:] for row in stats.layers if row.kind == "MaxPooling2D"]
    assert shapes == [(64, 64, first), (31, 31, second), (15, 15, third)]


def test_tutorial_cnn_blocks_add_same_padded_stages() -> None:
    options = {"blocks": 4, "head": "global_average_pool"}
    stats = inspection.describe("tutorial_cnn", (128, 128, 3), 10, options)
    # A fourth block of 256 filters, "same"-padded: 15 -> 15 -> pooled to 8.
    convs = _conv(3, 32) + _conv(32, 64) + _conv(64, 128) + _conv(128, 256)
    assert stats.params == convs + 4 * (32 + 64 + 128 + 256) + (256 * 128 + 128) + 1_290
    assert stats.params == 424_522
    shapes = [row.output_shape[1:] for row in stats.layers if row.kind == "MaxPooling2D"]
    assert shapes == [(64, 64, 32), (31, 31, 64), (15, 15, 128), (8, 8, 256)]
    two = inspection.describe("tutorial_cnn", (128, 128, 3), 10, {"blocks": 2})
    assert two.params == _conv(3, 32) + _conv(32, 64) + 4 * 96 + 31 * 31 * 64 * 128 + 128 + 1_290


@pytest.mark.parametrize("head", ["flatten", "global_average_pool"])
def test_tutorial_cnn_options_fit_the_smallest_input(head: str) -> None:
    # Blocks beyond the third pad "same": the tutorial's smallest input still fits six of them.
    smallest = MODELS.get("tutorial_cnn").min_input_size
    model = MODELS.get("tutorial_cnn").builder()(
        (smallest, smallest, 1), 2, head=head, width=0.25, blocks=6
    )
    probabilities = model.predict(images((smallest, smallest, 1)), verbose=0)
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_lenet_matches_the_book() -> None:
    # 5*5*1*6+6 = 156, 5*5*6*16+16 = 2,416, 400*120+120 = 48,120, 120*84+84 = 10,164,
    # 84*10+10 = 850: the book's 61,706.
    assert inspection.describe("lenet", (28, 28, 1), 10).params == 61_706
    modern = inspection.describe("lenet", (28, 28, 1), 10, {"variant": "modern"})
    assert {row.kind for row in modern.layers} >= {"MaxPooling2D", "BatchNormalization"}


# ----- the chapter's Inception table --------------------------------------------------------

# cnn-chapter.md, GoogLeNet: parameters and FLOPs (a multiply-add counts as one operation).
CHAPTER_TABLE = {"Inception": (0.16, 128), "3x3 Conv": (0.44, 346), "5x5 Conv": (1.22, 963)}


def test_inception_table_matches_the_chapter() -> None:
    rows = inspection.inception_table()
    assert {
        row["name"]: (row["parameters_millions"], row["multiply_adds_millions"]) for row in rows
    } == CHAPTER_TABLE
    exact = {row["name"]: (row["parameters"], row["multiply_adds"]) for row in rows}
    assert exact["Inception"] == (163_328, 163_328 * 28 * 28)
    assert exact["3x3 Conv"] == (3 * 3 * 192 * 256, 3 * 3 * 192 * 256 * 28 * 28)
    assert exact["5x5 Conv"] == (5 * 5 * 192 * 256, 5 * 5 * 192 * 256 * 28 * 28)


def test_inception_table_command() -> None:
    runner = CliRunner()
    text = runner.invoke(app, ["models", "inception-table"])
    assert text.exit_code == 0, text.output
    for name, (params, operations) in CHAPTER_TABLE.items():
        line = next(line for line in text.output.splitlines() if line.startswith(f"{name} "))
        assert f"({params:.2f} M)" in line and f"({operations} M)" in line
    as_json = runner.invoke(app, ["models", "inception-table", "--json"])
    assert as_json.exit_code == 0
    assert {row["name"]: row["multiply_adds_millions"] for row in json.loads(as_json.output)} == {
        name: operations for name, (_, operations) in CHAPTER_TABLE.items()
    }


# ----- the `cnnzoo models` command ----------------------------------------------------------


def test_models_lists_every_model_with_its_counts() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert any(line.startswith(f"{name} ") for line in result.output.splitlines())
        assert MODELS.get(name).paper in result.output
    assert "11,689,512 trainable" in result.output
    # Each model's options, accepted values and defaults, from its schema.
    assert "options: variant: 'classic' | 'modern' (default 'classic')" in result.output
    assert "options: resize_to: int | null (default null)" in result.output
    assert (
        "options: head: 'flatten' | 'global_average_pool' (default 'flatten'); "
        "width: float (default 1.0); blocks: int (default 3)"
    ) in result.output
    as_json = json.loads(runner.invoke(app, ["models", "--json"]).output)
    by_name = {entry["name"]: entry for entry in as_json}
    assert list(by_name) == NAMES
    assert by_name["resnet18"]["multiply_adds"] == 1_814_073_344
    assert by_name["lenet"]["params"] == 61_706 and by_name["lenet"]["input_shape"] == [28, 28, 1]


def test_models_at_a_given_input_refuses_what_does_not_fit() -> None:
    args = ["models", "--input-shape", "28,28,1", "--num-classes", "10", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    by_name = {entry["name"]: entry for entry in json.loads(result.output)}
    assert "at least 67x67" in by_name["alexnet"]["error"]
    assert by_name["resnet18"]["num_classes"] == 10 and "error" not in by_name["resnet18"]


def test_models_name_prints_the_layer_summary() -> None:
    runner = CliRunner()
    args = ["models", "resnet18", "--input-shape", "28,28,1", "--num-classes", "10"]
    result = runner.invoke(app, [*args, "--option", "resize_to=32"])
    assert result.exit_code == 0, result.output
    assert "layer1_0_conv1" in result.output and "resize_to=32" in result.output
    data = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert data["input_shape"] == [28, 28, 1] and data["num_classes"] == 10
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]
    assert sum(layer["multiply_adds"] for layer in data["layers"]) == data["multiply_adds"]
    assert data["layers"][-1] == {
        "name": "predictions",
        "kind": "Dense",
        "output_shape": [None, 10],
        "params": 512 * 10 + 10,
        "multiply_adds": 512 * 10,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resnet-18"], 'Did you mean "resnet18"?'),
        (["alexnet", "--input-shape", "28,28,1"], "model.resize_to to 224"),
        (["lenet", "--option", "variant=tiny"], "Input should be 'classic' or 'modern'"),
        (["lenet", "--option", "resize_to=96"], 'unknown option "resize_to"'),
        (["tutorial_cnn", "--option", "head=gap"], "'flatten' or 'global_average_pool'"),
        (["tutorial_cnn", "--option", "width=0"], "model.width: Input should be greater than 0"),
        (["tutorial_cnn", "--option", "blocks=7"], "model.blocks: Input should be less than"),
        (["googlenet", "--input-shape", "28x28"], "HEIGHT,WIDTH,CHANNELS"),
    ],
)
@pytest.mark.fast
def test_models_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["models", *args])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.fast
def test_models_help_imports_no_tensorflow() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from cnnzoo.cli.app import app; "
        "result = CliRunner().invoke(app, ['models', '--help']); "
        "print(result.exit_code, 'inception-table' in result.output, 'tensorflow' in sys.modules)"
    )
    assert python_prints(code) == ["0", "True", "False"]
