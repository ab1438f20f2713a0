"""Benchmark the inference gateway on the shared ImageNet sample: accuracy, then speed.

    .venv/bin/python bench/inference.py [--photos DIR] [--classes FILE] [--model FILE]
        [--float-model FILE] [--json OUT] [--rounds N] [--per-round N]

e.g. `.venv/bin/python bench/inference.py --float-model
models/efficientnet_lite0_float32.tflite --json /tmp/inference.json`.

The true class of a photo is the WordNet id that starts its file name
(`n01443537_goldfish.JPEG`); it is compared with the ids of the predicted labels (the
default model's labels file holds WordNet ids). Top-1/top-5 are over all photos, predicted
through `Model.predict_many`. Calibration, for the consensus that takes the model's
prediction as a photo's prior: the mean top-1 probability beside top-1 accuracy (below it:
under-confident) and the expected calibration error over ten equal-width bins.

Speed, in images per second (ips), all with interpreters on one thread:

- `interpreter_ips`: the runtime's own `Interpreter` created directly on the model file
  (default delegates, so XNNPACK), input tensor set once to a real photo, `invoke()` only;
- `predict_ips`: `Model.predict` on RGB uint8 arrays already at the input size;
- `predict_many_ips`: `Model.predict_many` with 2 workers on JPEG bytes read into memory
  beforehand (decode, preprocess, inference and post-processing; no file I/O);
- `decode_ips`: `Model.prepare` on the JPEG bytes (decode and preprocess only).

The machine is shared and noisy, so the four are timed side by side: `--rounds` rounds,
each timing every measurement once on `--per-round` photos, in an order that rotates from
round to round. Speeds are medians of rounds. A ratio is the median of its per-round
ratios (each between measurements taken seconds apart, so load that drifts from round to
round cancels out); the ratio of the medians, which drift can push past 1, is shown beside
it. CPU time per image (all threads of the process) is reported too: other jobs disturb it
far less than wall-clock speed.

A missing or unusable photos folder, classes file or model exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    # Run as `python bench/inference.py`: this file would shadow the `inference` package.
    sys.path[0] = str(REPO)

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from inference import InferenceError, Model, Prediction  # noqa: E402
from inference.preprocess import input_encoder  # noqa: E402

DEFAULT_PHOTOS = REPO.parent / "shared" / "datasets" / "imagenet-sample" / "eval"
DEFAULT_MODEL = REPO / "models" / "efficientnet_lite0_int8.tflite"
PHOTO_SUFFIXES = {".jpeg", ".jpg", ".png", ".webp"}
WORDNET_PREFIX = re.compile(r"^(n\d{8})_")
CLASS_LINE = re.compile(r"^(n\d{8})[_\t ](.+)$")
WORKERS = 2
WARMUP = 10
TARGETS = {"predict_ips": 0.85, "predict_many_ips": 0.6}  # minimum share of interpreter_ips
MEASUREMENTS = ("interpreter_ips", "predict_ips", "predict_many_ips", "decode_ips")


@dataclass(frozen=True)
class Photo:
    wordnet_id: str
    data: bytes


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    photos_without_label: int  # photos whose class is not among the model's label ids
    mean_top_probability: float
    calibration_error: float  # expected calibration error of the top-1 probability


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos")
    parser.add_argument(
        "--classes",
        type=Path,
        help="classes file, one `nXXXXXXXX_name` a line (default: classes.txt in the "
        "photos folder, else in its parent, where the shared dataset keeps it)",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--float-model", type=Path, help="float model, for accuracy only")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--rounds", type=int, default=9, help="timing rounds (default 9)")
    parser.add_argument(
        "--per-round", type=int, default=100, help="photos per timed round (default 100)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.per_round < 1:
        parser.error("--rounds and --per-round must be at least 1")
    return args


def default_classes(photos: Path) -> Path:
    inside = photos / "classes.txt"
    return inside if inside.is_file() else photos.parent / "classes.txt"


def read_classes(path: Path) -> dict[str, str]:
    """WordNet id -> name, from lines like `n01440764_tench`."""
    if not path.is_file():
        fail(f"classes file {path} not found (give --classes FILE, one `nXXXXXXXX_name` a line)")
    classes: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = CLASS_LINE.match(line.strip())
        if match is None:
            if line.strip():
                fail(f"{path}:{number}: {line!r} is not `nXXXXXXXX_name`")
            continue
        classes[match[1]] = match[2]
    if not classes:
        fail(f"classes file {path} lists no classes")
    return classes


def read_photos(folder: Path, classes: dict[str, str]) -> list[Photo]:
    """Every JPEG/PNG/WebP in `folder` named `nXXXXXXXX_*`, its bytes read into memory."""
    photos: list[Photo] = []
    for path in sorted(folder.iterdir()):
        match = WORDNET_PREFIX.match(path.name)
        if path.suffix.lower() not in PHOTO_SUFFIXES or match is None:
            continue
        if match[1] not in classes:
            fail(f"photo {path.name}: class {match[1]} is not in the classes file")
        photos.append(Photo(match[1], path.read_bytes()))
    if not photos:
        fail(f"no photos named `nXXXXXXXX_*.JPEG` (or .jpg/.png/.webp) in {folder}")
    return photos


def load_model(path: Path, *, num_threads: int) -> Model:
    if not path.is_file():
        fail(f"model file {path} not found")
    try:
        return Model.from_path(path, num_threads=num_threads)
    except InferenceError as exc:
        fail(f"cannot load {path}: {exc}")


def measure_accuracy(model: Model, photos: Sequence[Photo]) -> Accuracy:
    try:
        predictions = model.predict_many([photo.data for photo in photos], workers=WORKERS)
    except InferenceError as exc:
        fail(f"{exc} ({'; '.join(getattr(exc, '__notes__', []))})")
    known = {label.id for label in model.labels}
    if not known & {photo.wordnet_id for photo in photos}:
        fail(
            f"none of the photos' classes is a label id of {model.spec.path} "
            f"(its ids look like {model.labels[0].id!r}); the labels need WordNet ids"
        )
    hits = [
        _rank(prediction, photo.wordnet_id)
        for prediction, photo in zip(predictions, photos, strict=True)
    ]
    confidences = [prediction.top.probability for prediction in predictions]
    return Accuracy(
        top1=sum(rank == 0 for rank in hits) / len(photos),
        top5=sum(rank is not None and rank < 5 for rank in hits) / len(photos),
        photos_without_label=sum(photo.wordnet_id not in known for photo in photos),
        mean_top_probability=statistics.fmean(confidences),
        calibration_error=calibration_error(confidences, [rank == 0 for rank in hits]),
    )


def calibration_error(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Expected calibration error: |accuracy - mean confidence| per tenth, weighted by size."""
    bins: dict[int, list[tuple[float, bool]]] = {}
    for confidence, right in zip(confidences, correct, strict=True):
        bins.setdefault(min(int(confidence * 10), 9), []).append((confidence, right))
    return sum(
        abs(statistics.fmean(r for _, r in members) - statistics.fmean(c for c, _ in members))
        * len(members)
        for members in bins.values()
    ) / len(confidences)


def _rank(prediction: Prediction, wordnet_id: str) -> int | None:
    ids = [score.label_id for score in prediction.top_k]
    return ids.index(wordnet_id) if wordnet_id in ids else None


def bare_interpreter(model: Model, pixels: NDArray[np.uint8]) -> tuple[Interpreter, int]:
    """The runtime's interpreter on the model file, one thread, input set to `pixels`.

    The pixels are encoded into the input dtype by the package's own pure encoder, so the
    interpreter sees exactly the tensor `Model.predict` would give it.
    """
    spec = model.spec
    interpreter = Interpreter(model_path=spec.path, num_threads=1)
    interpreter.allocate_tensors()
    encoder = input_encoder(
        dtype=np.dtype(spec.input.dtype),
        quantization=spec.input.quantization,
        mean=spec.config.mean,
        std=spec.config.std,
        channels=spec.channels,
    )
    tensor = np.zeros(spec.input.shape, dtype=np.dtype(spec.input.dtype))
    encoder.encode(pixels, tensor[0])
    interpreter.set_tensor(spec.input.index, tensor)
    # Private but present in both runtimes; read only to show that XNNPACK applied.
    delegates = sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())
    return interpreter, delegates


@dataclass(frozen=True)
class Sample:
    """One timed round: images per second (wall clock) and process CPU time per image.

    CPU time counts every thread of this process; on a shared machine it is the measure
    that other jobs disturb least, so it shows what the Python layer itself costs.
    """

    ips: float
    cpu_ms: float


def _rate(count: int, work: Callable[[], object]) -> Sample:
    start, cpu_start = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return Sample(ips=count / wall, cpu_ms=1000 * cpu / count)


def _invoke_times(interpreter: Interpreter, count: int) -> None:
    for _ in range(count):
        interpreter.invoke()


def _predict_each(model: Model, images: Sequence[NDArray[np.uint8]]) -> None:
    for image in images:
        model.predict(image)


def _prepare_each(model: Model, blobs: Sequence[bytes]) -> None:
    for blob in blobs:
        model.prepare(blob)


def timers(
    *,
    interpreter: Interpreter,
    single: Model,
    many: Model,
    pixels: Sequence[NDArray[np.uint8]],
    blobs: Sequence[bytes],
) -> dict[str, Callable[[], Sample]]:
    """One round of each measurement, as a function returning its `Sample`."""
    n = len(blobs)
    return {
        "interpreter_ips": lambda: _rate(n, lambda: _invoke_times(interpreter, n)),
        "predict_ips": lambda: _rate(n, lambda: _predict_each(single, pixels)),
        "predict_many_ips": lambda: _rate(n, lambda: many.predict_many(blobs, workers=WORKERS)),
        "decode_ips": lambda: _rate(n, lambda: _prepare_each(single, blobs)),
    }


def run_rounds(timed: dict[str, Callable[[], Sample]], rounds: int) -> dict[str, list[Sample]]:
    """Each measurement once per round; the order rotates so none is always first."""
    names = list(timed)
    results: dict[str, list[Sample]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(timed[name]())
        line = "  ".join(f"{name} {results[name][-1].ips:6.1f}" for name in names)
        print(f"round {round_index + 1}/{rounds}: {line}", file=sys.stderr, flush=True)
    return results


def warm_up(
    *, interpreter: Interpreter, single: Model, many: Model, photos: Sequence[Photo]
) -> None:
    """First invokes are slow (XNNPACK packs weights); predict_many builds its 2nd runner."""
    _invoke_times(interpreter, WARMUP)
    _predict_each(single, [single.prepare(photo.data) for photo in photos[:WARMUP]])
    many.predict_many([photo.data for photo in photos[: WARMUP * WORKERS]], workers=WORKERS)


def speed(args: argparse.Namespace, photos: Sequence[Photo]) -> dict[str, Any]:
    single = load_model(args.model, num_threads=1)
    many = load_model(args.model, num_threads=1)
    sample = [photos[i % len(photos)] for i in range(args.per_round)]
    blobs = [photo.data for photo in sample]
    pixels = [single.prepare(blob) for blob in blobs]
    interpreter, delegates = bare_interpreter(single, pixels[0])
    warm_up(interpreter=interpreter, single=single, many=many, photos=photos)
    timed = timers(interpreter=interpreter, single=single, many=many, pixels=pixels, blobs=blobs)
    load_before = os.getloadavg()[0]
    samples = run_rounds(timed, args.rounds)
    return {
        **summarise(samples),
        "per_round": args.per_round,
        "interpreter_delegate_nodes": delegates,
        "model_xnnpack": single.spec.xnnpack,
        "load_average": [load_before, os.getloadavg()[0]],
    }


def summarise(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    """Medians of rounds, ratios to `interpreter_ips` and CPU time per image."""
    rounds = {name: [sample.ips for sample in values] for name, values in samples.items()}
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    base = rounds["interpreter_ips"]
    return {
        **medians,
        "ratios": {name: _median_ratio(rounds[name], base) for name in TARGETS},
        "ratios_of_medians": {name: medians[name] / medians["interpreter_ips"] for name in TARGETS},
        "targets": TARGETS,
        "rounds": rounds,
        "cpu_ms_per_image": {
            name: statistics.median(sample.cpu_ms for sample in values)
            for name, values in samples.items()
        },
    }


def _median_ratio(values: Sequence[float], base: Sequence[float]) -> float:
    """The median of per-round ratios: each pairs measurements taken seconds apart."""
    return statistics.median(v / b for v, b in zip(values, base, strict=True))


def accuracy_results(args: argparse.Namespace, photos: Sequence[Photo]) -> dict[str, Any]:
    int8 = measure_accuracy(load_model(args.model, num_threads=1), photos)
    result: dict[str, Any] = {
        "int8_top1": int8.top1,
        "int8_top5": int8.top5,
        "int8_photos_without_label": int8.photos_without_label,
        "int8_mean_top_probability": int8.mean_top_probability,
        "int8_calibration_error": int8.calibration_error,
        "float_top1": None,
        "float_top5": None,
    }
    if args.float_model is not None:
        fp = measure_accuracy(load_model(args.float_model, num_threads=1), photos)
        result.update(float_top1=fp.top1, float_top5=fp.top5)
    return result


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        **{name: metadata.version(name) for name in ("ai-edge-litert", "numpy", "pillow")},
    }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _accuracy_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("photos", str(results["n_photos"])),
        (
            "int8 top-1 / top-5",
            f"{_percent(results['int8_top1'])} / {_percent(results['int8_top5'])}",
        ),
        (
            "int8 mean top-1 probability / calibration error",
            f"{_percent(results['int8_mean_top_probability'])} / "
            f"{_percent(results['int8_calibration_error'])}",
        ),
        (
            "float top-1 / top-5",
            f"{_percent(results['float_top1'])} / {_percent(results['float_top5'])}",
        ),
    ]


def _speed_rows(speed_: dict[str, Any]) -> list[tuple[str, str]]:
    load = speed_["load_average"]
    rows = [
        (
            "timing",
            f"{len(speed_['rounds']['predict_ips'])} rounds x {speed_['per_round']} "
            f"photos, 1 thread per interpreter, load average {load[0]:.1f} -> {load[1]:.1f}",
        ),
        ("predict_many input", f"JPEG bytes in memory, {WORKERS} workers"),
    ]
    for name in MEASUREMENTS:
        values, cpu = speed_["rounds"][name], speed_["cpu_ms_per_image"][name]
        spread = f"rounds {min(values):.1f}-{max(values):.1f}, CPU {cpu:.2f} ms/img"
        rows.append((name, f"{speed_[name]:6.1f} img/s  ({spread})"))
    for name, target in TARGETS.items():
        ratio, of_medians = speed_["ratios"][name], speed_["ratios_of_medians"][name]
        verdict = "meets" if ratio >= target else "MISSES"
        rows.append(
            (
                f"{name}/interpreter_ips",
                f"{ratio:.3f}  {verdict} >= {target} (ratio of the medians {of_medians:.3f})",
            )
        )
    return rows


def table(results: dict[str, Any]) -> str:
    rows = _accuracy_rows(results) + _speed_rows(results["speed"])
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.photos.is_dir():
        fail(f"photos folder {args.photos} not found (give --photos DIR)")
    classes = read_classes(args.classes or default_classes(args.photos))
    photos = read_photos(args.photos, classes)
    results: dict[str, Any] = {"n_photos": len(photos), **accuracy_results(args, photos)}
    speed_ = speed(args, photos)
    results.update({name: speed_[name] for name in MEASUREMENTS})
    results["ratios"] = speed_["ratios"]
    results["targets_met"] = {
        name: speed_["ratios"][name] >= target for name, target in TARGETS.items()
    }
    results.update(
        speed=speed_,
        predict_many_input="JPEG bytes read into memory beforehand",
        workers=WORKERS,
        num_threads=1,
        model=str(args.model),
        float_model=None if args.float_model is None else str(args.float_model),
        environment=environment(),
    )
    print(table(results))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {args.json}: {exc}")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
