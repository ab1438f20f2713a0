"""Decoding photos: formats by content, EXIF orientation, every mode, draft, bad input."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from inference_testkit import REPO_ROOT, encode, progressive_jpeg, solid
from PIL import Image

from inference import ImageDecodeError, ImageTooLargeError, UnsupportedImageFormat
from inference.images import (
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    ColourMode,
    decode_image,
    read_header,
    read_image_bytes,
    sniff_format,
    to_mode,
)

# Upright 60x40 test card: red, green / blue, white quadrants.
QUADRANTS = {(0, 0): (255, 0, 0), (0, 1): (0, 255, 0), (1, 0): (0, 0, 255), (1, 1): (255,) * 3}


def _upright() -> np.ndarray:
    card = np.zeros((40, 60, 3), np.uint8)
    for (row, col), colour in QUADRANTS.items():
        card[row * 20 : row * 20 + 20, col * 30 : col * 30 + 30] = colour
    return card


# How a camera stores the upright picture for each EXIF orientation (EXIF 2.3, tag 0x0112),
# written with numpy so the test does not trust Pillow's own table.
STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, -1),
}


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_every_exif_orientation_comes_out_upright(orientation: int) -> None:
    stored = Image.fromarray(np.ascontiguousarray(STORED[orientation](_upright())))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    decoded = np.asarray(decode_image(data))
    assert decoded.shape == (40, 60, 3)
    for (row, col), colour in QUADRANTS.items():
        centre = decoded[row * 20 + 10, col * 30 + 15].astype(int)
        assert np.abs(centre - colour).max() < 12, (orientation, row, col, centre)


def _png(image: Image.Image, **params: object) -> bytes:
    return encode(image, "PNG", **params)


def _palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return _png(image, transparency=1)  # index 1 (red) is transparent: shows white


MODES = {
    "L": (_png(Image.new("L", (8, 8), 100)), (100, 100, 100)),
    "LA": (_png(Image.new("LA", (8, 8), (0, 0))), (255, 255, 255)),
    "RGBA half red": (_png(Image.new("RGBA", (8, 8), (255, 0, 0, 128))), (255, 127, 127)),
    "P": (
        _png(Image.new("RGB", (8, 8), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)),
        (10, 200, 30),
    ),
    "P transparent": (_palette_with_transparency(), (255, 255, 255)),
    "CMYK": (encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), (255, 0, 0)),
    "I;16": (_png(Image.fromarray(np.full((8, 8), 30000, np.uint16))), (117, 117, 117)),
    "WebP RGB": (encode(solid((20, 120, 220), (8, 8)), "WEBP", lossless=True), (20, 120, 220)),
}


@pytest.mark.parametrize("name", sorted(MODES))
def test_every_mode_becomes_rgb(name: str) -> None:
    data, expected = MODES[name]
    decoded = decode_image(data)
    assert decoded.mode == "RGB"
    pixel = np.asarray(decoded)[4, 4].astype(int)
    assert np.abs(pixel - expected).max() <= 3, pixel


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    data = _png(Image.fromarray(np.array([[0, 257, 65535]], np.uint16)))
    assert np.asarray(decode_image(data, mode="L")).tolist() == [[0, 1, 255]]


def _converted_whole(image: Image.Image, mode: str) -> Image.Image:
    """`to_mode` as it was before it worked in strips: whole-image copies, float64 for grey."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image)
        if image.mode == "F":
            scaled = np.clip(values, 0, 255)
        else:
            scaled = np.clip(values.astype(np.float64) / 257.0, 0, 255)
        image = Image.fromarray(np.rint(scaled).astype(np.uint8))
    elif image.mode in ("LA", "RGBA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255,) * 4), rgba)
    return image.convert(mode)


def _palette_with_alphas(pixels: np.ndarray) -> Image.Image:
    image = Image.fromarray(pixels[..., 0])
    image.putpalette(pixels[:256, 0, :3].tobytes())
    image.info["transparency"] = pixels[:256, 0, 3].tobytes()  # an alpha per palette entry
    return image


# 600x500: two strips of the conversion (of 262,144 pixels at most), every value at random.
_RANDOM = np.random.default_rng(0)
STRIPPED = {
    "I;16": lambda: Image.fromarray(_RANDOM.integers(0, 65536, (500, 600), dtype=np.uint16)),
    "I": lambda: Image.fromarray(_RANDOM.integers(-999, 70000, (500, 600), dtype=np.int32)),
    "F": lambda: Image.fromarray(_RANDOM.uniform(-9, 300, (500, 600)).astype(np.float32)),
    "RGBA": lambda: Image.fromarray(_RANDOM.integers(0, 256, (500, 600, 4), dtype=np.uint8)),
    "LA": lambda: Image.fromarray(_RANDOM.integers(0, 256, (500, 600, 2), dtype=np.uint8)),
    "P transparent": lambda: _palette_with_alphas(
        _RANDOM.integers(0, 256, (500, 600, 4), dtype=np.uint8)
    ),
}


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("name", sorted(STRIPPED))
def test_converting_in_strips_gives_the_whole_image_result(name: str, mode: ColourMode) -> None:
    image = STRIPPED[name]()
    assert image.mode == name.split()[0]
    converted = to_mode(image, mode)
    assert converted.mode == mode
    assert converted.tobytes() == _converted_whole(image, mode).tobytes()


_PEAK = """
import re, sys
from inference.images import decode_image

def peak() -> int:  # peak resident memory in bytes (Linux, as the service runs; ru_maxrss
    # would carry the parent's peak over exec)
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read())[1]) * 1024

data = open(sys.argv[1], "rb").read()
before = peak()
image = decode_image(data)
print((peak() - before) / (image.width * image.height))
"""
BIG: dict[str, Callable[[], Image.Image]] = {
    "16-bit grey": lambda: Image.fromarray(np.full((3000, 3000), 30000, np.uint16)),
    "RGBA": lambda: Image.new("RGBA", (3000, 3000), (10, 120, 200, 128)),
}


@pytest.mark.parametrize("name", sorted(BIG))
def test_converting_a_big_image_costs_about_its_decoded_and_converted_copies(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png(BIG[name]()))
    # A fresh process, so that its peak memory is this decode's.
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    # Decoded (2 or 4 bytes a pixel) plus the RGB image (4): converting whole took about 20.
    assert float(result.stdout) < 13, result.stdout


_HEADER_AND_PEAK = """
import sys
from inference.images import decode_image, read_header

def status(key: str) -> int:  # bytes, from the Linux status file the service is read by
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(key))

data = open(sys.argv[1], "rb").read()
estimate = read_header(data, min_size=(384, 384)).decode_bytes
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # VmHWM := VmRSS
decode_image(data, min_size=(384, 384))
print(status("VmHWM") - before, estimate)
"""


def _gradient(mode: str) -> Image.Image:
    x = np.linspace(0, 255, 3000, dtype=np.uint8)
    return Image.fromarray(np.ascontiguousarray(np.broadcast_to(x, (3000, 3000)))).convert(mode)


DECODES: dict[str, Callable[[], bytes]] = {
    "baseline JPEG": lambda: encode(_gradient("RGB"), "JPEG", quality=90),
    "progressive JPEG": lambda: encode(_gradient("RGB"), "JPEG", quality=90, progressive=True),
    "RGB PNG": lambda: _png(_gradient("RGB")),
    "RGBA PNG": lambda: _png(_gradient("RGBA")),
    "16-bit PNG": lambda: _png(Image.fromarray(np.full((3000, 3000), 30000, np.uint16))),
    "WebP": lambda: encode(_gradient("RGB"), "WEBP"),
}


@pytest.mark.parametrize("name", sorted(DECODES))
def test_the_header_tells_about_what_decoding_will_hold(name: str, tmp_path: Path) -> None:
    path = tmp_path / "photo"
    path.write_bytes(DECODES[name]())
    # A fresh process, so that its peak memory is this decode's.
    result = subprocess.run(
        [sys.executable, "-c", _HEADER_AND_PEAK, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    held, estimate = map(int, result.stdout.split())
    # An upper bound, not a wild one: 9 MP held from 3 MiB (a drafted JPEG) to 137 MiB (WebP).
    assert held <= estimate <= 2.5 * held


def test_draft_mode_decodes_a_big_jpeg_near_the_target_size() -> None:
    x = np.linspace(0, 255, 4000, dtype=np.uint8)
    big = Image.fromarray(np.broadcast_to(x, (3000, 4000))).convert("RGB")
    data = encode(big, "JPEG", quality=80)
    assert decode_image(data).size == (4000, 3000)
    # 1/8 scale (500x375) is the smallest that still covers 256 on both sides.
    assert decode_image(data, min_size=(256, 256)).size == (500, 375)


def test_a_20000_pixel_square_png_is_refused_before_decoding(png_20000: bytes) -> None:
    assert len(png_20000) < 2_000_000
    with pytest.raises(ImageTooLargeError, match="20000x20000"):
        decode_image(png_20000)
    with pytest.raises(ImageTooLargeError, match="20000x20000"):
        read_header(png_20000)


def test_the_pixel_cap_is_configurable() -> None:
    data = _png(Image.new("L", (100, 100)))
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_pixels=9_999)
    assert decode_image(data, max_pixels=10_000).size == (100, 100)


def test_a_jpeg_with_too_many_scans_is_refused_before_decoding() -> None:
    # 300 copies of one small scan: each is a pass over the whole image when decoded.
    data = progressive_jpeg(Image.new("L", (64, 64), 128), scans=300)
    with pytest.raises(ImageTooLargeError, match=f"300 scans; at most {MAX_JPEG_SCANS}"):
        decode_image(data)


def _noise() -> Image.Image:
    return Image.effect_noise((64, 48), 64).convert("RGB")


@pytest.mark.parametrize("scans", [MAX_JPEG_SCANS, MAX_JPEG_SCANS + 1])
def test_every_scan_is_counted_past_entropy_coded_data(scans: int) -> None:
    data = progressive_jpeg(_noise(), scans=scans)
    # The walk must step over stuffed 0xFF bytes and restart markers inside each scan's data.
    assert b"\xff\x00" in data
    assert b"\xff\xd0" in data
    if scans <= MAX_JPEG_SCANS:
        assert decode_image(data).size == (64, 48)
    else:
        with pytest.raises(ImageTooLargeError, match=f"{scans} scans"):
            decode_image(data)


def test_a_thumbnails_scans_inside_its_segment_are_not_counted() -> None:
    thumbnail = progressive_jpeg(solid((200, 10, 10), (16, 12)), scans=10)
    exif = Image.Exif()
    exif[0x0112] = 1
    # The thumbnail's bytes ride in the EXIF (APP1) segment, as a camera's do.
    data = progressive_jpeg(_noise(), scans=MAX_JPEG_SCANS, exif=exif.tobytes() + thumbnail)
    assert data.count(b"\xff\xda") == MAX_JPEG_SCANS + 10  # a byte search would refuse it
    assert decode_image(data).size == (64, 48)


def _with_comments(data: bytes, count: int) -> bytes:
    """`count` empty comment segments (4 bytes each) right after the JPEG's SOI marker."""
    return data[:2] + b"\xff\xfe\x00\x02" * count + data[2:]


def test_a_jpeg_of_too_many_marker_segments_is_refused_before_decoding() -> None:
    data = _with_comments(encode(solid((1, 2, 3)), "JPEG"), MAX_JPEG_SEGMENTS)
    with pytest.raises(ImageTooLargeError, match=f"more than {MAX_JPEG_SEGMENTS:,} marker"):
        decode_image(data)


def test_a_jpeg_of_many_metadata_segments_is_accepted() -> None:
    assert decode_image(_with_comments(encode(solid((1, 2, 3)), "JPEG"), 1000)).size == (40, 30)


def test_scans_past_the_segment_limit_are_named_as_a_lower_bound() -> None:
    data = progressive_jpeg(Image.new("L", (16, 16)), scans=MAX_JPEG_SEGMENTS + 10)
    with pytest.raises(ImageTooLargeError, match=r"at least [\d,]+ scans; at most"):
        decode_image(data)


def test_truncated_jpeg_is_a_decode_error() -> None:
    data = encode(Image.effect_noise((200, 200), 64).convert("RGB"), "JPEG")
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 2])


def test_truncated_png_is_a_decode_error() -> None:
    data = _png(Image.effect_noise((64, 64), 64))
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) - 40])


@pytest.mark.parametrize(
    ("fmt", "size"), [("PNG", 8), ("PNG", 20), ("PNG", 30), ("JPEG", 10), ("JPEG", 100)]
)
def test_a_file_cut_inside_its_header_says_so(fmt: str, size: int) -> None:
    data = encode(Image.effect_noise((64, 64), 64).convert("RGB"), fmt)[:size]
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data)
    assert str(caught.value) == (
        f"the {fmt} ends inside its header (the file is {size} bytes): it is cut short"
    )


def _bad_ihdr_checksum(end: int | None) -> bytes:
    data = bytearray(_png(solid((1, 2, 3))))
    data[29] ^= 0xFF  # the IHDR checksum
    return bytes(data[:end])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_bad_ihdr_checksum(None), "cannot read the PNG header: broken PNG file"),
        # Nothing after the broken chunk: every byte read, yet not for want of more.
        (_bad_ihdr_checksum(33), "cannot read the PNG header: broken PNG file"),
        (b"\xff\xd8\xff\xd9", "cannot read the JPEG header"),  # start and end, nothing between
    ],
    ids=["more-after", "nothing-after", "jpeg-start-and-end"],
)
def test_a_complete_but_broken_header_is_not_called_cut_short(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message) as caught:
        decode_image(data)
    assert "cut short" not in str(caught.value)


def _tiff() -> bytes:
    return encode(solid((1, 2, 3)), "TIFF")


def _pdf() -> bytes:
    return encode(solid((1, 2, 3)), "PDF")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", "empty"),
        (_tiff(), "TIFF"),
        (_pdf(), "PDF"),
        (encode(solid((1, 2, 3)), "GIF"), "GIF"),
        (encode(solid((1, 2, 3)), "BMP"), "BMP"),
        (b"hello, not an image", "not a recognised image"),
    ],
)
def test_other_formats_are_refused_by_content(data: bytes, what: str, tmp_path: Path) -> None:
    named_jpg = tmp_path / "photo.jpg"
    named_jpg.write_bytes(data)
    with pytest.raises(UnsupportedImageFormat, match=what):
        decode_image(read_image_bytes(named_jpg))


def test_a_jpeg_named_png_is_still_a_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(encode(solid((200, 10, 10)), "JPEG"))
    assert sniff_format(read_image_bytes(path)) == "JPEG"
    assert decode_image(read_image_bytes(path)).size == (40, 30)


def test_missing_file_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match="cannot read"):
        read_image_bytes(tmp_path / "nope.jpg")


def test_sniffing_reads_magic_bytes() -> None:
    assert sniff_format(io.BytesIO(encode(solid((0, 0, 0)), "WEBP")).getvalue()) == "WEBP"
    assert sniff_format(b"\x89PNG\r\n\x1a\n") == "PNG"
