"""Resize, centre crop and input encoding, on synthetic arrays, without a model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.preprocess import crop_box, fit_to_input, input_encoder
from inference.quantization import Quantization, quantize


def test_crop_box_square_is_shorter_side_256_then_centre_224() -> None:
    # 512x512 scaled to 256 then cropped 224: the kept source region is 448 wide, centred.
    assert crop_box(source=(512, 512), target=(224, 224), crop_ratio=224 / 256) == pytest.approx(
        (32.0, 32.0, 480.0, 480.0)
    )


def test_crop_box_landscape_keeps_full_height_share_and_centres() -> None:
    left, top, right, bottom = crop_box(source=(800, 400), target=(224, 224), crop_ratio=0.875)
    assert bottom - top == pytest.approx(350.0)  # 400 * 0.875 of the shorter side
    assert right - left == pytest.approx(350.0)
    assert (left + right) / 2 == pytest.approx(400.0)
    assert (top + bottom) / 2 == pytest.approx(200.0)


def test_crop_box_ratio_one_keeps_whole_shorter_side() -> None:
    assert crop_box(source=(300, 200), target=(100, 100), crop_ratio=1.0) == pytest.approx(
        (50.0, 0.0, 250.0, 200.0)
    )


def test_fit_to_input_crops_away_the_border() -> None:
    # The crop is the central 224x224 of a 256x384 image; red covers it with a 12-pixel
    # margin for the resampling filter, blue frames it: nothing blue may survive.
    pixels = np.zeros((256, 384, 3), np.uint8)
    pixels[..., 2] = 255
    pixels[4:252, 68:316] = (255, 0, 0)
    fitted = fit_to_input(Image.fromarray(pixels), size=(28, 28), crop_ratio=0.875)
    out = np.asarray(fitted)
    assert out.shape == (28, 28, 3)
    assert out[..., 0].min() >= 250
    assert out[..., 2].max() <= 5


def test_fit_to_input_leaves_an_image_already_at_size_alone() -> None:
    image = Image.new("RGB", (8, 8))
    assert fit_to_input(image, size=(8, 8), crop_ratio=0.875) is image


def _encode(encoder_kwargs: dict[str, object], pixels: np.ndarray) -> tuple[str, np.ndarray]:
    encoder = input_encoder(**encoder_kwargs)  # type: ignore[arg-type]
    out = np.empty(pixels.shape, dtype=encoder.dtype)
    encoder.encode(pixels, out)
    return encoder.kind, out


PIXELS = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)


def test_float_input_is_normalised() -> None:
    kind, out = _encode(
        {"dtype": np.float32, "quantization": None, "mean": [127], "std": [128], "channels": 3},
        PIXELS,
    )
    assert kind == "affine"
    np.testing.assert_allclose(out, (PIXELS.astype(np.float32) - 127) / 128, rtol=1e-6)


def test_float_input_per_channel_mean_std() -> None:
    mean, std = [123.7, 116.3, 103.5], [58.4, 57.1, 57.4]
    _kind, out = _encode(
        {"dtype": np.float32, "quantization": None, "mean": mean, "std": std, "channels": 3},
        PIXELS,
    )
    np.testing.assert_allclose(out, (PIXELS - np.array(mean)) / np.array(std), atol=1e-6)


def test_int8_input_calibrated_on_unit_range_is_a_sign_flip() -> None:
    q = Quantization(scale=1 / 128, zero_point=-1)
    common = {"quantization": q, "mean": [127], "std": [128], "channels": 3}
    kind, out = _encode({"dtype": np.int8, **common}, PIXELS)
    assert kind == "flip_sign"
    assert np.array_equal(out, quantize((PIXELS - 127.0) / 128, q, np.int8))


def test_uint8_input_with_matching_quantization_is_a_copy() -> None:
    q = Quantization(scale=1 / 128, zero_point=127)
    kind, out = _encode(
        {"dtype": np.uint8, "quantization": q, "mean": [127], "std": [128], "channels": 3}, PIXELS
    )
    assert kind == "copy"
    assert np.array_equal(out, PIXELS)


@pytest.mark.parametrize("mean", [[127], [120, 127, 130]])
def test_other_quantization_uses_the_exact_table(mean: list[float]) -> None:
    q = Quantization(scale=0.02, zero_point=3)
    kind, out = _encode(
        {"dtype": np.int8, "quantization": q, "mean": mean, "std": [128], "channels": 3}, PIXELS
    )
    assert kind == "table"
    expected = quantize((PIXELS - np.array(mean, dtype=np.float64)) / 128, q, np.int8)
    assert np.array_equal(out, expected)


def test_mean_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="give 1 or 3"):
        input_encoder(dtype=np.float32, quantization=None, mean=[1, 2], std=[1], channels=3)
