"""Export a run's model for serving: TensorFlow SavedModel, TensorFlow Lite, or ONNX.

SavedModel comes from `model.export`; TFLite from `tf.lite.TFLiteConverter` on that SavedModel;
ONNX from `model.export(format="onnx")`, which needs the optional `tf2onnx` (checked to work with
TensorFlow 2.21 / Keras 3.15 at tf2onnx 1.17) and, to check the result, `onnxruntime`. Each
export is reloaded and compared with the `.keras` model on a few inputs.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnzoo.runs.folder import open_run
from cnnzoo.utils import outputs
from cnnzoo.utils.errors import CnnzooError

EXPORT_FORMATS = ("savedmodel", "tflite", "onnx")
DEFAULT_NAMES = {"savedmodel": "savedmodel", "tflite": "model.tflite", "onnx": "model.onnx"}
SAVEDMODEL_LAYOUT = ("saved_model.pb", "fingerprint.pb", "variables", "assets")  # model.export
Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and how far its outputs are from the Keras model's."""

    path: Path
    format: str
    max_difference: float | None  # None when the runtime to check it is not installed


def _save_savedmodel(model, path: Path) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False)


def _save_tflite(model, path: Path) -> None:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "savedmodel"
        _save_savedmodel(model, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        path.write_bytes(converter.convert())


def _save_onnx(model, path: Path) -> None:
    try:
        import tf2onnx  # noqa: F401  (Keras' ONNX export runs on it)
    except ImportError:
        raise CnnzooError(
            "ONNX export needs tf2onnx, which is not installed. Install it with "
            "`pip install 'cnnzoo[onnx]'`, or export --format savedmodel or tflite."
        ) from None
    # Keras exports only models that have been called at least once.
    model(np.zeros((1, *model.input_shape[1:]), dtype=np.float32))
    with warnings.catch_warnings():  # Keras' tf2onnx shim probes np.object: a FutureWarning
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)


def load_exported(path: Path, fmt: str) -> Predictor | None:
    """A function from a float32 image batch to probabilities, or None without the runtime."""
    if fmt == "savedmodel":
        import tensorflow as tf

        # Keep the loaded object alive: its `serve` function refers to variables it owns.
        loaded = tf.saved_model.load(str(path))
        return lambda images: loaded.serve(images).numpy()
    if fmt == "tflite":
        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_path=str(path))

        def run_tflite(images: np.ndarray) -> np.ndarray:
            source = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(source, images.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(source, images)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        return run_tflite
    assert fmt == "onnx", fmt
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def sample_inputs(input_shape: tuple[int, ...], count: int = 4, seed: int = 0) -> np.ndarray:
    """Random images in [0, 1), the range training's rescaling produces."""
    rng = np.random.default_rng(seed)
    return rng.random((count, *input_shape), dtype=np.float32)


def export_kind(fmt: str) -> str:
    """The kind of output an export is (`outputs`' records): "tflite export", ..."""
    return f"{fmt} export"


def _keras_layout_only(folder: Path) -> bool:
    """A SavedModel folder as `model.export` writes it, with nothing else in it."""
    entries = [p.relative_to(folder).parts[0] for p in folder.rglob("*")]
    return (folder / "saved_model.pb").is_file() and all(e in SAVEDMODEL_LAYOUT for e in entries)


def check_destination(run: Path, fmt: str, output: str | Path | None, force: bool) -> Path:
    """Where the export goes; refuse, before any work, a destination it may not write."""
    if fmt not in EXPORT_FORMATS:
        raise CnnzooError(f"--format must be one of {', '.join(EXPORT_FORMATS)}. Received: {fmt!r}")
    default = run / "export" / DEFAULT_NAMES[fmt]
    path = Path(output) if output else default
    folder = fmt == "savedmodel"

    def earlier_unrecorded(found: Path) -> bool:
        """An export an older cnnzoo wrote at the default place (its folder: Keras' files only)."""
        same = found.resolve() == default.resolve()
        return same and (not folder or _keras_layout_only(found))

    outputs.check_destination(
        path,
        export_kind(fmt),
        what="--output" if output else "export",
        folder=folder,
        run=run,
        force=force,
        legacy=earlier_unrecorded,
    )
    return path


def _write(model, fmt: str, path: Path, run: Path) -> None:
    """Write the export atomically, then its ownership record."""
    save = {"savedmodel": _save_savedmodel, "tflite": _save_tflite, "onnx": _save_onnx}[fmt]
    if fmt == "savedmodel":
        with outputs.staged_folder(path) as built:
            save(model, built)
            files = sorted(p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file())
            outputs.mark_folder(built, export_kind(fmt), run=str(run.resolve()), files=files)
        return
    with outputs.staged_file(path) as temp:
        save(model, temp)
    outputs.mark_file(path, export_kind(fmt), run=str(run.resolve()))


def export_run(
    run_dir: str | Path,
    fmt: str,
    output: str | Path | None = None,
    check_inputs=None,
    force: bool = False,
) -> ExportResult:
    """Export a run's model as `fmt` to `output` (default `<run>/export/`), then check it.

    An earlier export at the destination is replaced only with `force`; anything cnnzoo did
    not export (a folder of other files, a run's own files) never is.
    """
    from cnnzoo.models.precision import as_float32  # Keras loads here, not on import

    run = open_run(run_dir)
    path = check_destination(run.path, fmt, output, force)
    model = run.load_model()
    # TFLite has no float16 kernels for most ops, and float32 is what every runtime serves.
    _write(as_float32(model), fmt, path, run.path)

    predict = load_exported(path, fmt)
    if predict is None:
        return ExportResult(path, fmt, None)
    images = sample_inputs(model.input_shape[1:]) if check_inputs is None else check_inputs
    images = np.asarray(images, dtype=np.float32)
    expected = np.asarray(model.predict(images, verbose=0))
    difference = float(np.max(np.abs(np.asarray(predict(images)) - expected)))
    return ExportResult(path, fmt, difference)
