"""`Model` on the committed tiny models: exact outputs, every input kind, bad files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from inference_testkit import (
    build_script,
    colour_probabilities,
    encode,
    progressive_jpeg,
    solid,
    tiny_model,
    without_opening_fifo,
)
from PIL import Image

from inference import (
    BackendUnavailableError,
    ImageError,
    ImageTooLargeError,
    InvalidModelError,
    LabelsMismatchError,
    LabelsNotFoundError,
    Model,
    ModelConfig,
    ModelLoadError,
    ModelSpec,
    Quantization,
    UnsupportedImageFormat,
    UnsupportedModelError,
    backends,
)
from inference.scores import softmax

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "dark": (0, 0, 0)}


def _probabilities(model: Model, image: object) -> dict[str, float]:
    prediction = model.predict(image)  # type: ignore[arg-type]
    return {score.label_id: score.probability for score in prediction.top_k}


@pytest.mark.parametrize("colour", sorted(COLOURS))
def test_float_logits_model_matches_the_float_reference(colour: str) -> None:
    model = Model.from_path(tiny_model("float_logits"))
    got = _probabilities(model, solid(COLOURS[colour], (8, 8)))
    expected = colour_probabilities(COLOURS[colour], height=8, width=8)
    assert model.predict(solid(COLOURS[colour], (8, 8))).top.label_id == colour
    np.testing.assert_allclose([got[n] for n in COLOURS], expected, rtol=1e-5)


def test_float_softmax_model_is_read_as_probabilities_from_the_graph() -> None:
    model = Model.from_path(tiny_model("float_probs"))
    assert (model.spec.output_kind, model.spec.output_kind_source) == ("probabilities", "graph")
    got = _probabilities(model, solid((0, 0, 255), (8, 8)))
    expected = colour_probabilities((0, 0, 255), height=8, width=8)
    np.testing.assert_allclose([got[f"c{i}"] for i in range(4)], expected, rtol=1e-5)
    assert model.predict(solid((0, 0, 255), (8, 8))).top.name == "blue"


def test_int8_model_exact_output() -> None:
    model = Model.from_path(tiny_model("int8_logits"))
    assert model.spec.input.quantization == Quantization(scale=1 / 128, zero_point=-1)
    assert (model.spec.output_kind, model.spec.output_kind_source) == ("logits", "probe")
    prediction = model.predict(solid((255, 0, 0), (12, 12)))
    # The runtime's int8 logits are [64, -32, -32, 16] at scale 1/16: [4, -2, -2, 1].
    expected = softmax(np.array([4.0, -2.0, -2.0, 1.0]))
    assert [s.label_id for s in prediction.top_k] == ["red", "dark", "green", "blue"]
    np.testing.assert_allclose(
        [s.probability for s in prediction.top_k], expected[[0, 3, 1, 2]], rtol=1e-9
    )


def test_int8_model_agrees_with_the_float_reference() -> None:
    model = Model.from_path(tiny_model("int8_logits"))
    for name, rgb in COLOURS.items():
        got = _probabilities(model, solid(rgb, (12, 12)))
        expected = colour_probabilities(rgb, height=12, width=12)
        assert max(got, key=got.__getitem__) == name
        np.testing.assert_allclose([got[n] for n in COLOURS], expected, atol=0.02)


def test_uint8_quantized_softmax_is_dequantized_and_renormalised() -> None:
    model = Model.from_path(tiny_model("uint8_probs"))
    assert (model.spec.output_kind, model.spec.output_kind_source) == ("probabilities", "graph")
    prediction = model.predict(solid((255, 0, 0), (8, 8)))
    # Raw uint8 output [243, 1, 1, 12] at scale 1/256 sums to 257/256.
    assert [s.label_id for s in prediction.top_k] == ["red", "dark", "green", "blue"]
    np.testing.assert_allclose(
        [s.probability for s in prediction.top_k], np.array([243, 12, 1, 1]) / 257, rtol=1e-9
    )


@pytest.mark.parametrize(("value", "label"), [(0, "dark"), (255, "light")])
def test_one_channel_model(value: int, label: str) -> None:
    model = Model.from_path(tiny_model("grey_int8"))
    assert model.spec.channels == 1
    prediction = model.predict(solid((value, value, value), (30, 20)))
    assert prediction.top.label_id == label
    assert prediction.top.probability == pytest.approx(float(softmax(np.array([1.0, -1.0]))[0]))


def test_packed_labels_and_a_non_square_input() -> None:
    model = Model.from_path(tiny_model("packed_labels"))
    assert (model.spec.height, model.spec.width) == (6, 10)
    assert model.spec.labels_source == "metadata:labels.txt"
    assert model.predict(solid((0, 255, 0), (100, 50))).top.label_id == "green"


def test_spec_describes_the_model() -> None:
    path = tiny_model("int8_logits")
    spec = Model.from_path(path).spec
    data = path.read_bytes()
    assert spec.sha256 == hashlib.sha256(data).hexdigest()
    assert spec.file_size == len(data)
    assert spec.version == f"int8_logits@{spec.sha256[:12]}"
    assert spec.input.shape == (1, 12, 12, 3)
    assert (spec.input.dtype, spec.output.dtype) == ("int8", "int8")
    assert spec.output.quantization == Quantization(scale=1 / 16, zero_point=0)
    assert spec.quantized
    assert spec.postprocessing == ("dequantize", "softmax")
    assert spec.label_count == 4
    assert spec.backend == "ai-edge-litert"
    assert spec.xnnpack is True
    assert (spec.config, spec.config_source) == (ModelConfig(), "defaults")
    assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_prediction_records_the_model(tmp_path: Path) -> None:
    model_path = tmp_path / "m.tflite"
    shutil.copy(tiny_model("float_logits"), model_path)
    shutil.copy(tiny_model("float_logits").with_suffix(".labels.txt"), tmp_path / "m.labels.txt")
    (tmp_path / "m.config.json").write_text('{"version": "v7", "top_k": 2}')
    prediction = Model.from_path(model_path).predict(solid((255, 0, 0), (8, 8)))
    assert prediction.model_version == "v7"
    assert prediction.model_sha256 == hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert len(prediction.top_k) == 2
    assert prediction.label_count == len(Model.from_path(model_path).labels) > 2
    assert prediction.to_dict()["top_k"][0]["label_id"] == "red"


def test_config_hint_overrides_output_detection() -> None:
    config = ModelConfig(output="probabilities")
    model = Model.from_path(tiny_model("float_logits"), config=config)
    assert (model.spec.output_kind, model.spec.output_kind_source) == ("probabilities", "config")


def test_every_kind_of_image_input_gives_the_same_answer(tmp_path: Path) -> None:
    model = Model.from_path(tiny_model("float_logits"))
    photo = solid((0, 200, 0), (64, 48))
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(photo, "JPEG", quality=95))
    inputs = [
        encode(photo, "PNG"),
        bytearray(encode(photo, "WEBP", lossless=True)),
        path,
        str(path),
        photo,
        photo.convert("RGBA"),
        np.asarray(photo),
        np.asarray(photo.resize((8, 8))),
    ]
    for image in inputs:
        assert model.predict(image).top.label_id == "green", type(image)


def test_image_arrays_must_be_uint8() -> None:
    model = Model.from_path(tiny_model("float_logits"))
    with pytest.raises(ImageError, match="uint8"):
        model.predict(np.zeros((8, 8, 3), np.float32))


def test_the_model_refuses_a_jpeg_with_too_many_scans() -> None:
    model = Model.from_path(tiny_model("float_logits"))
    bomb = progressive_jpeg(solid((0, 200, 0), (64, 48)), scans=300)
    with pytest.raises(ImageTooLargeError, match="300 scans"):
        model.predict(bomb)


def test_prepare_gives_pixels_at_the_input_size() -> None:
    model = Model.from_path(tiny_model("packed_labels"))
    pixels = model.prepare(encode(solid((1, 2, 3), (300, 200)), "PNG"))
    assert (pixels.shape, pixels.dtype) == ((6, 10, 3), np.uint8)


def test_predict_many_keeps_order_and_matches_predict() -> None:
    model = Model.from_path(tiny_model("int8_logits"))
    photos = [encode(solid(rgb, (50, 40)), "JPEG") for rgb in COLOURS.values()] * 5
    many = model.predict_many(photos, workers=2)
    assert [p.top.label_id for p in many] == list(COLOURS) * 5
    assert many == [model.predict(photo) for photo in photos]


def test_predict_many_names_the_failing_image() -> None:
    model = Model.from_path(tiny_model("float_logits"))
    photos = [encode(solid((255, 0, 0)), "PNG"), b"GIF89a not a photo"]
    with pytest.raises(UnsupportedImageFormat) as excinfo:
        model.predict_many(photos, workers=2)
    assert "image #1 of the batch" in excinfo.value.__notes__[0]


def test_model_is_safe_to_share_between_threads() -> None:
    model = Model.from_path(tiny_model("float_logits"))
    expected = model.predict(solid((0, 0, 255), (8, 8)))
    results: list[object] = []

    def work() -> None:
        results.extend(model.predict(solid((0, 0, 255), (8, 8))) for _ in range(50))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 200


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 8,
        b"\x1c\x00\x00\x00TFL3",  # 8 bytes with the right identifier
        np.random.default_rng(1).bytes(4096),
        b"\x1c\x00\x00\x00TFL3" + np.random.default_rng(2).bytes(4096),
    ],
    ids=["empty", "8-zero-bytes", "8-bytes-TFL3", "random", "random-with-header"],
)
def test_bad_model_bytes_are_invalid_models(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InvalidModelError):
        Model.from_path(_write(tmp_path, data), labels=tiny_model("float_logits.labels"))


@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_truncated_default_model_is_invalid(
    tmp_path: Path, default_model: Path, fraction: float
) -> None:
    data = default_model.read_bytes()
    with pytest.raises(InvalidModelError):
        Model.from_path(_write(tmp_path, data[: int(len(data) * fraction)]))


def test_truncated_tiny_model_is_invalid(tmp_path: Path) -> None:
    data = tiny_model("int8_logits").read_bytes()
    for fraction in (0.01, 0.5, 0.99):
        with pytest.raises(InvalidModelError):
            Model.from_path(_write(tmp_path, data[: int(len(data) * fraction)]))


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot read"):
        Model.from_path(tmp_path / "nope.tflite")


@pytest.mark.parametrize(
    ("stem", "edits", "message"),
    [  # one-byte corruptions that still load: a tensor name that is not UTF-8, a lost input
        ("uint8_probs", {472: 0xF0}, "cannot describe the model's tensors: 'utf-8' codec"),
        ("int8_logits", {574: 0x00, 576: 0x80}, "failed to run: Input tensor 1 lacks data"),
    ],
)
def test_a_corrupted_model_that_the_runtime_fails_on_is_invalid(
    tmp_path: Path, stem: str, edits: dict[int, int], message: str
) -> None:
    data = bytearray(tiny_model(stem).read_bytes())
    for offset, value in edits.items():
        data[offset] = value
    labels = tiny_model(stem).with_suffix(".labels.txt")
    with pytest.raises(InvalidModelError, match=re.escape(message)):
        Model.from_path(_write(tmp_path, bytes(data)), labels=labels)


def test_a_model_that_fails_to_run_on_some_photos_fails_on_those_only() -> None:
    model = Model.from_path(tiny_model("bright_gather"))  # fails on pixel values >= 250
    assert model.predict(solid((100, 100, 100), (8, 8))).top_k
    with pytest.raises(InvalidModelError, match="the model failed to run: gather index out of"):
        model.predict(solid((255, 255, 255), (8, 8)))


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_model_path_that_is_not_a_regular_file_is_refused_without_reading(
    tmp_path: Path, kind: str
) -> None:
    path = {"fifo": tmp_path / "m.tflite", "device": Path("/dev/zero"), "folder": tmp_path}[kind]
    named = {"fifo": "a FIFO", "device": "a device", "folder": "a folder"}[kind]
    load = partial(Model.from_path, path)
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block until a writer comes: the test would fail
        load = partial(without_opening_fifo, path, load)
    with pytest.raises(ModelLoadError, match=f"it is {named}, not a regular file"):
        load()


def test_a_model_file_larger_than_any_flatbuffer_is_refused_without_reading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.tflite"
    with path.open("wb") as file:
        file.truncate(2**31)  # sparse: no disk used
    with pytest.raises(UnsupportedModelError, match="2,147,483,648 bytes; models of at most"):
        Model.from_path(path)


def test_model_whose_input_is_not_an_image() -> None:
    with pytest.raises(UnsupportedModelError, match=r"input has shape \[1, 16\]"):
        Model.from_path(tiny_model("not_image"))


def test_labels_of_the_wrong_count(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    with pytest.raises(LabelsMismatchError, match="3 labels but the model outputs 4"):
        Model.from_path(tiny_model("float_logits"), labels=labels)


def test_model_without_labels(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    shutil.copy(tiny_model("float_logits"), path)
    with pytest.raises(LabelsNotFoundError):
        Model.from_path(path)


def test_unknown_backend_is_named() -> None:
    with pytest.raises(BackendUnavailableError, match="accepted: ai-edge-litert, tflite-runtime"):
        Model.from_path(tiny_model("float_logits"), backend="onnx")


def test_missing_backend_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "tflite-runtime", ("no_such_module_x", "tflite-runtime"))
    with pytest.raises(BackendUnavailableError, match="pip install tflite-runtime"):
        Model.from_path(tiny_model("float_logits"), backend="tflite-runtime")


def test_xnnpack_check_sees_when_the_delegate_is_absent() -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data = tiny_model("int8_logits").read_bytes()
    plain = Interpreter(
        model_content=data,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    plain.allocate_tensors()
    assert backends.delegated_nodes(plain) == 0
    assert backends.delegated_nodes(backends.open_interpreter(data)) == 1


def test_num_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="num_threads"):
        Model.from_path(tiny_model("float_logits"), num_threads=0)


def test_default_model_loads_with_imagenet_labels(default_model: Path) -> None:
    model = Model.from_path(default_model)
    spec = model.spec
    assert (spec.height, spec.width, spec.channels) == (224, 224, 3)
    assert spec.label_count == 1000
    assert spec.xnnpack is True
    assert model.labels[0].id == "n01440764"
    rng = np.random.default_rng(0)
    prediction = model.predict(Image.fromarray(rng.integers(0, 256, (300, 400, 3), np.uint8)))
    assert len(prediction.top_k) == 5
    assert all(score.label_id.startswith("n") for score in prediction.top_k)


def test_a_model_whose_scores_are_nan_is_refused_at_its_first_prediction() -> None:
    model = Model.from_path(tiny_model("nan_logits"))  # loads: the graph itself is legal
    with pytest.raises(InvalidModelError, match="4 non-finite scores"):
        model.predict(solid((200, 0, 0), (8, 8)))
    with pytest.raises(InvalidModelError, match="non-finite"):
        model.self_check()
    assert Model.from_path(tiny_model("float_logits")).self_check().top_k


@pytest.mark.parametrize("signature", [(1, -1, -1, 3), (1, 1, 1, -1)])
def test_a_dynamic_input_size_is_refused_naming_the_shape(
    tmp_path: Path, signature: tuple[int, ...]
) -> None:
    script = build_script()
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(script.serialize(script.dynamic_input_graph(signature)))
    (tmp_path / "dynamic.labels.txt").write_text("r\ng\nb\n")
    with pytest.raises(UnsupportedModelError, match=re.escape(f"dynamic shape {list(signature)}")):
        Model.from_path(path)


def test_a_dynamic_batch_is_run_one_photo_at_a_time(tmp_path: Path) -> None:
    script = build_script()
    path = tmp_path / "batch.tflite"
    path.write_bytes(script.serialize(script.dynamic_input_graph((-1, 1, 1, 3))))
    (tmp_path / "batch.labels.txt").write_text("r\ng\nb\n")
    assert len(Model.from_path(path).self_check().top_k) == 3
