"""`Model`: load a TFLite image classifier once, then predict photos with it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from . import backends
from . import spec as spec_module
from ._files import not_a_regular_file
from .config import ModelConfig, OutputKind, find_config
from .errors import (
    ConfigError,
    ImageError,
    InferenceError,
    InvalidModelError,
    LabelsMismatchError,
    ModelLoadError,
    UnsupportedModelError,
)
from .images import DEFAULT_MAX_PIXELS, ColourMode, decode_image, read_image_bytes, to_mode
from .labels import Label, find_labels
from .prediction import LabelScore, Prediction
from .preprocess import InputEncoder, fit_to_input, input_encoder
from .quantization import dequantize
from .runner import Runner, RunnerPool
from .scores import looks_like_probabilities, normalise, softmax, top_k, uncertainty
from .spec import ModelSpec, OutputKindSource, TensorSpec

__all__ = ["ImageInput", "Model"]

ImageInput: TypeAlias = (
    bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image | NDArray[np.uint8]
)


MAX_MODEL_BYTES = 2**31 - 1
"""The largest model file this package loads. The model proper is one flatbuffer (offsets of
32 bits: under 2 GiB); a larger file holds its weights outside it, which `model_content`
loading is not meant for, and a photo classifier for CPUs is megabytes. The file is read
whole into memory, so a larger one is refused before it is read."""


def _read_model(path: Path) -> bytes:
    try:
        # Checked before reading: a FIFO would block the read, a device never end it.
        kind = not_a_regular_file(path)
        if kind is not None:
            raise ModelLoadError(
                f"cannot read model file {str(path)!r}: it is {kind}, not a regular file"
            )
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise UnsupportedModelError(
                f"{path.name} is {size:,} bytes; models of at most {MAX_MODEL_BYTES:,} are "
                "loaded (a photo classifier is megabytes)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {str(path)!r}: {exc}") from exc
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InvalidModelError(
            f"{path.name} is not a TFLite model ({len(data)} bytes, no 'TFL3' file "
            "identifier at byte 4); accepted: a .tflite flatbuffer"
        )
    return data


def _output_kind(
    runner: Runner, inp: TensorSpec, out: TensorSpec, hint: OutputKind | None
) -> tuple[OutputKind, OutputKindSource]:
    if hint is not None:
        return hint, "config"
    producers = backends.producing_ops(runner.interpreter)
    if producers is not None and spec_module.softmax_in_graph(producers, out.index):
        return "probabilities", "graph"
    probes = [_scores(runner.run_tensor(x), out) for x in spec_module.probe_inputs(inp)]
    # A quantized softmax is off by up to half a step per class once dequantized.
    tolerance = 0.02 + (out.quantization.scale * probes[0].size / 2 if out.quantization else 0)
    if all(looks_like_probabilities(p, tolerance=tolerance) for p in probes):
        return "probabilities", "probe"
    return "logits", "probe"


def _scores(raw: NDArray[Any], out: TensorSpec) -> NDArray[Any]:
    values = raw.reshape(-1)
    return dequantize(values, out.quantization) if out.quantization is not None else values


class Model:
    """A loaded TFLite image classifier. Build it with `Model.from_path`.

    Synchronous and safe to share between threads: each call borrows its own interpreter
    from a pool, so one interpreter only ever serves one thread at a time.
    """

    def __init__(
        self,
        *,
        spec: ModelSpec,
        labels: Sequence[Label],
        pool: RunnerPool,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._spec = spec
        self._labels = tuple(labels)
        self._pool = pool
        self._max_pixels = max_pixels
        self._size = (spec.width, spec.height)
        self._mode: ColourMode = "RGB" if spec.channels == 3 else "L"
        self._pixel_shape = (spec.height, spec.width, spec.channels)
        ratio = spec.config.crop_ratio
        self._decode_size = (round(spec.width / ratio), round(spec.height / ratio))
        self._logits = spec.output_kind == "logits"
        self._quantization = spec.output.quantization
        self._top_k = spec.config.top_k

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        labels: str | os.PathLike[str] | None = None,
        config: ModelConfig | str | os.PathLike[str] | None = None,
        num_threads: int | None = None,
        backend: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> Model:
        """Load a model, its labels and its config; check they fit together.

        Labels: `labels`, else `<stem>.labels.txt` beside the model, else the labels packed
        in the model metadata. Config: `config`, else `<stem>.config.json`, else defaults.
        `num_threads` is per interpreter (runtime default: 1); `backend` is
        "ai-edge-litert" (default) or "tflite-runtime". `max_pixels` caps decoded photos.
        The model runs in this process: check untrusted files with `validate()` first.
        """
        model_path = Path(path)
        data = _read_model(model_path)
        model_config, config_source = find_config(
            model_path, config if isinstance(config, ModelConfig | None) else Path(config)
        )
        backend_name = backend or backends.DEFAULT_BACKEND
        interpreter = backends.open_interpreter(data, backend=backend_name, num_threads=num_threads)
        inp = spec_module.check_image_input(interpreter.get_input_details())
        out = spec_module.check_scores_output(interpreter.get_output_details())
        label_list, labels_source = _matching_labels(model_path, data, labels, out.shape[-1])
        encoder = _encoder(inp, model_config)

        def new_runner(interp: backends.Interpreter | None = None) -> Runner:
            # Later runners (one per concurrent thread) are built from the same bytes.
            interp = interp or backends.open_interpreter(
                data, backend=backend_name, num_threads=num_threads
            )
            return Runner(interp, input_index=inp.index, output_index=out.index, encoder=encoder)

        first = new_runner(interpreter)
        kind, kind_source = _output_kind(first, inp, out, model_config.output)
        sha256 = hashlib.sha256(data).hexdigest()
        delegated = backends.delegated_nodes(interpreter)
        model_spec = ModelSpec(
            path=str(model_path),
            version=model_config.version or f"{model_path.stem}@{sha256[:12]}",
            sha256=sha256,
            file_size=len(data),
            backend=backend_name,
            xnnpack=None if delegated is None else delegated > 0,
            input=inp,
            output=out,
            output_kind=kind,
            output_kind_source=kind_source,
            label_count=len(label_list),
            labels_source=labels_source,
            config=model_config,
            config_source=config_source,
        )
        pool = RunnerPool(new_runner, first=first)
        return cls(spec=model_spec, labels=label_list, pool=pool, max_pixels=max_pixels)

    @property
    def spec(self) -> ModelSpec:
        """What the model is: input, output, labels, preprocessing, file identity."""
        return self._spec

    @property
    def labels(self) -> tuple[Label, ...]:
        """The labels, in the order of the model's output."""
        return self._labels

    def prepare(self, image: ImageInput) -> NDArray[np.uint8]:
        """Decode and preprocess only: uint8 pixels at the input size (H x W x C)."""
        if isinstance(image, np.ndarray):
            return self._prepare_array(image)
        if not isinstance(image, Image.Image):
            image = decode_image(
                read_image_bytes(image),
                mode=self._mode,
                min_size=self._decode_size,
                max_pixels=self._max_pixels,
            )
        image = to_mode(image, self._mode)
        config = self._spec.config
        fitted = fit_to_input(
            image, size=self._size, crop_ratio=config.crop_ratio, resample=config.resample
        )
        return np.asarray(fitted).reshape(self._pixel_shape)

    def _prepare_array(self, pixels: NDArray[Any]) -> NDArray[np.uint8]:
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
            raise ImageError(
                f"an image array must be uint8 H x W x C, got {pixels.dtype} {pixels.shape}"
            )
        if pixels.shape in (self._pixel_shape, self._pixel_shape[:2]):
            return pixels.reshape(self._pixel_shape)
        return self.prepare(Image.fromarray(pixels))

    def predict(self, image: ImageInput) -> Prediction:
        """Predict one photo: bytes, a path, a Pillow image or a uint8 H x W x C array.

        An image already at the model's input size is used as is (taken as cropped).
        """
        pixels = self.prepare(image)
        with self._pool.runner() as runner:
            raw = runner.run(pixels)
        return self._prediction(raw)

    def predict_many(
        self, images: Iterable[ImageInput], *, workers: int | None = None
    ) -> list[Prediction]:
        """Predict many photos, overlapping decoding and inference on `workers` threads.

        Both decoding and inference release the GIL. Results keep the input order; the
        first failing image (in input order) raises its error, noting its position.
        """
        count = workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="inference") as pool:
            return list(pool.map(self._predict_noting_index, *zip(*enumerate(images), strict=True)))

    def _predict_noting_index(self, index: int, image: ImageInput) -> Prediction:
        try:
            return self.predict(image)
        except InferenceError as exc:
            exc.add_note(f"while predicting image #{index} of the batch")
            raise

    def self_check(self) -> Prediction:
        """Predict one synthetic photo (seeded noise at twice the input size), so that a model
        that cannot predict (non-finite scores, say) fails where it is loaded, not on the
        first photo. Raises `InferenceError`."""
        spec = self.spec
        rng = np.random.default_rng(0)
        photo = rng.integers(0, 256, (spec.height * 2, spec.width * 2, spec.channels), np.uint8)
        return self.predict(photo.squeeze() if spec.channels == 1 else photo)

    def _prediction(self, raw: NDArray[Any]) -> Prediction:
        values = raw.reshape(-1)
        if self._quantization is not None:
            values = dequantize(values, self._quantization)
        broken = int(np.count_nonzero(~np.isfinite(values)))
        if broken:
            raise InvalidModelError(
                f"the model produced {broken} non-finite scores (NaN or infinite) among "
                f"{values.size}: its weights or graph are broken"
            )
        probabilities = softmax(values) if self._logits else normalise(values)
        k = self._top_k
        best = top_k(probabilities, max(k, 2))
        labels = self._labels
        return Prediction(
            top_k=tuple(
                LabelScore(labels[i].id, labels[i].name, float(probabilities[i])) for i in best[:k]
            ),
            uncertainty=uncertainty(probabilities, ranked=best),
            model_version=self._spec.version,
            model_sha256=self._spec.sha256,
            label_count=self._spec.label_count,
        )


def _matching_labels(
    model_path: Path, data: bytes, labels: str | os.PathLike[str] | None, classes: int
) -> tuple[tuple[Label, ...], str]:
    label_list, source = find_labels(model_path, data, Path(labels) if labels else None)
    if len(label_list) != classes:
        raise LabelsMismatchError(
            f"{source} has {len(label_list)} labels but the model outputs {classes} scores; "
            "they must match one to one"
        )
    return label_list, source


def _encoder(inp: TensorSpec, config: ModelConfig) -> InputEncoder:
    try:
        return input_encoder(
            dtype=np.dtype(inp.dtype),
            quantization=inp.quantization,
            mean=config.mean,
            std=config.std,
            channels=inp.shape[3],
        )
    except ValueError as exc:
        raise ConfigError(f"mean/std do not fit the model input: {exc}") from exc
