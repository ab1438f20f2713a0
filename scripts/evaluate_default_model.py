"""Measure the default EfficientNet-Lite0 models on the shared ImageNet sample.

Runs each given `.tflite` classifier with `ai-edge-litert` on the photos in
`--photos` (the true class of a photo is the WordNet id that starts its file name,
e.g. `n01443537_goldfish.JPEG`) and prints top-1/top-5 accuracy and the median
per-image latency of `Interpreter.invoke` on one thread with XNNPACK. It also times
the same model with the default delegates switched off, to show that XNNPACK applies
(without it int8 runs several times slower).

Preprocessing is the one the model was trained with: resize the shorter side to 256
(bilinear), centre-crop 224, RGB, `(x - 127) / 128`. For a quantized input the
normalised value is quantized with the scale and zero point read from the model.

Needs only `ai-edge-litert`, `numpy` and `pillow`, so it runs in the build venv
(see `build_default_model.py`) or any environment that has those:

    .venv-model-build/bin/python scripts/evaluate_default_model.py \
        models/efficientnet_lite0_float32.tflite models/efficientnet_lite0_int8.tflite
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "imagenet-sample"
RESIZE_SHORTER = 256
CROP = 224
MEAN = 127.0
STD = 128.0


@dataclass(frozen=True)
class Report:
    model: str
    n_photos: int
    top1: float
    top5: float
    input_dtype: str
    output_dtype: str
    latency_ms_median: float
    latency_ms_min: float
    latency_ms_no_xnnpack_median: float


def preprocess(path: Path) -> np.ndarray:
    """Decode a photo into a (224, 224, 3) float32 array normalised as `(x - 127) / 128`."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        scale = RESIZE_SHORTER / min(width, height)
        size = (
            max(RESIZE_SHORTER, round(width * scale)),
            max(RESIZE_SHORTER, round(height * scale)),
        )
        image = image.resize(size, Image.Resampling.BILINEAR)
    left = (size[0] - CROP) // 2
    top = (size[1] - CROP) // 2
    pixels = np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.float32)
    return (pixels - MEAN) / STD


def read_class_index(classes_file: Path) -> dict[str, int]:
    """Map WordNet id to class index from lines like `n01440764_tench`."""
    lines = classes_file.read_text().splitlines()
    return {line.split("_", 1)[0]: index for index, line in enumerate(lines) if line}


def load_photos(photos_dir: Path, classes_file: Path) -> tuple[np.ndarray, np.ndarray]:
    if not photos_dir.is_dir():
        sys.exit(f"error: photo folder {photos_dir} does not exist (pass --photos DIR)")
    if not classes_file.is_file():
        sys.exit(f"error: class list {classes_file} does not exist (pass --classes FILE)")
    index = read_class_index(classes_file)
    files = sorted(p for p in photos_dir.iterdir() if p.suffix.lower() in {".jpeg", ".jpg", ".png"})
    if not files:
        sys.exit(f"error: no JPEG or PNG photos in {photos_dir}")
    images = np.stack([preprocess(f) for f in files])
    labels = np.array([index[f.name.split("_", 1)[0]] for f in files])
    return images, labels


def to_model_input(normalised: np.ndarray, detail: dict) -> np.ndarray:
    """Quantize a normalised image with the model's own input parameters (if any)."""
    if detail["dtype"] == np.float32:
        return normalised.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    quantized = np.round(normalised / scale) + zero_point
    return np.clip(quantized, info.min, info.max).astype(detail["dtype"])


def from_model_output(raw: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return raw.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (raw.astype(np.float32) - zero_point) * scale


def accuracy(model: Path, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    interpreter = Interpreter(str(model), num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    top1 = top5 = 0
    for image, label in zip(images, labels, strict=True):
        interpreter.set_tensor(inp["index"], to_model_input(image[None], inp))
        interpreter.invoke()
        scores = from_model_output(interpreter.get_tensor(out["index"])[0], out)
        ranked = np.argsort(-scores, kind="stable")
        top1 += int(ranked[0] == label)
        top5 += int(label in ranked[:5])
    return 100.0 * top1 / len(labels), 100.0 * top5 / len(labels)


def latency_ms(model: Path, *, resolver: OpResolverType, runs: int) -> list[float]:
    """Per-invoke wall time on one thread, input tensor already set."""
    interpreter = Interpreter(str(model), num_threads=1, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
    for _ in range(10):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def evaluate(model: Path, images: np.ndarray, labels: np.ndarray, *, runs: int) -> Report:
    top1, top5 = accuracy(model, images, labels)
    fast = latency_ms(model, resolver=OpResolverType.AUTO, runs=runs)
    slow = latency_ms(
        model, resolver=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, runs=max(10, runs // 10)
    )
    interpreter = Interpreter(str(model))
    return Report(
        model=model.name,
        n_photos=len(labels),
        top1=round(top1, 2),
        top5=round(top5, 2),
        input_dtype=np.dtype(interpreter.get_input_details()[0]["dtype"]).name,
        output_dtype=np.dtype(interpreter.get_output_details()[0]["dtype"]).name,
        latency_ms_median=round(statistics.median(fast), 2),
        latency_ms_min=round(min(fast), 2),
        latency_ms_no_xnnpack_median=round(statistics.median(slow), 2),
    )


def print_table(reports: Sequence[Report]) -> None:
    print(
        f"{'model':<36} {'top-1':>6} {'top-5':>6} {'ms (XNNPACK)':>13}"
        f" {'ms min':>7} {'ms (no XNNPACK)':>16}"
    )
    for r in reports:
        print(
            f"{r.model:<36} {r.top1:>6.1f} {r.top5:>6.1f} {r.latency_ms_median:>13.2f}"
            f" {r.latency_ms_min:>7.2f} {r.latency_ms_no_xnnpack_median:>16.2f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help=".tflite classifiers to measure")
    parser.add_argument("--photos", type=Path, default=DEFAULT_DATASET / "eval")
    parser.add_argument("--classes", type=Path, default=DEFAULT_DATASET / "classes.txt")
    parser.add_argument("--runs", type=int, default=200, help="timed invokes per model")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    images, labels = load_photos(args.photos, args.classes)
    reports = [evaluate(model, images, labels, runs=args.runs) for model in args.models]
    print_table(reports)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")


if __name__ == "__main__":
    main()
