"""Compare uno's Mask2Former judge with mmdet 2.x itself, on the same weights and images.

Needs mmdet 2.x (its configs from a source checkout or the PyPI wheel's .mim folder) and a working
mmcv-full 1.x: the environment GenEval's own scorer needs. Too heavy for CI (mmcv-full compiles for
~20 minutes); results/mmdet-parity/ holds a run on random weights and the recipe for the environment.

    python scripts/check_mmdet_converter.py                         # random weights, synthetic images
    python scripts/check_mmdet_converter.py --checkpoint PATH.pth --images a.png b.png ...

Three comparisons per image, each with its own tolerance:
  1. preprocessing: mmdet's test pipeline tensor vs uno's (cv2's fixed-point resize may differ by one
     grey level per pixel, i.e. up to 1/57 after normalising);
  2. network: the same (mmdet's) input tensor through mmdet and through transformers with converted
     weights: backbone features, pixel decoder outputs, last-layer class and mask logits;
  3. detections: mmdet's inference_detector (what GenEval calls) vs uno's detector on the image file,
     per class: counts above GenEval's 0.3 threshold, sorted scores, boxes, mask IoU.
Exit status 0 when everything is within tolerance, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from uno_bench.errors import UnoError, require  # noqa: E402
from uno_bench.judges import mask2former_pipeline as pipeline  # noqa: E402
from uno_bench.judges.mask2former import Mask2FormerDetector, WeightsSource, load_model  # noqa: E402
from uno_bench.judges.mmdet_convert import OFFICIAL_CHECKPOINT  # noqa: E402
from uno_bench.suites.geneval_rules import load_image  # noqa: E402

CONFIG = "configs/mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help=f"mmdet config (default: <mmdet>/../{CONFIG}, as GenEval finds it)")
    parser.add_argument("--checkpoint", help=f"mmdet checkpoint, e.g. {OFFICIAL_CHECKPOINT} (default: random weights)")
    parser.add_argument("--images", nargs="*", help="PNG files (default: synthetic scenes of several sizes)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--net-tol", type=float, default=1e-3, help="max |diff| / (1 + max |mmdet|) per tensor")
    parser.add_argument("--score-tol", type=float, default=0.02, help="detection score difference")
    parser.add_argument("--box-tol", type=float, default=2.0, help="box coordinate difference, pixels")
    parser.add_argument("--min-iou", type=float, default=0.9, help="mask IoU of matched detections")
    return parser.parse_args()


def synthetic_images(folder: Path, seed: int) -> list[Path]:
    """Flat shapes on textured backgrounds at GenEval-like sizes (square, landscape, portrait)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (w, h) in enumerate([(512, 512), (1024, 1024), (640, 480), (300, 700)]):
        base = rng.integers(60, 200, (h // 8, w // 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((w, h), Image.BILINEAR)
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            x1, y1 = x0 + int(rng.integers(w // 8, w // 2)), y0 + int(rng.integers(h // 8, h // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        path = folder / f"{i:04d}.png"
        image.save(path)
        paths.append(path)
    return paths


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Reproducible random weights, small enough that masks and scores are not saturated."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            scale = 0.01 if name.endswith("bias") else 0.05
            param.copy_((torch.randn(param.shape, generator=gen) * scale).to(param.device))


def mmdet_inputs(model, path: Path, device: str):
    """inference_detector's data preparation, stopped before the forward pass."""
    from mmcv.parallel import collate, scatter
    from mmdet.datasets import replace_ImageToTensor
    from mmdet.datasets.pipelines import Compose

    cfg = model.cfg.copy()
    cfg.data.test.pipeline = replace_ImageToTensor(cfg.data.test.pipeline)
    data = Compose(cfg.data.test.pipeline)(dict(img_info=dict(filename=str(path)), img_prefix=None))
    data = collate([data], samples_per_gpu=1)
    data["img_metas"] = [m.data[0] for m in data["img_metas"]]
    data["img"] = [i.data[0] for i in data["img"]]
    if device.startswith("cuda"):
        data = scatter(data, [torch.device(device)])[0]
    img, metas = data["img"][0], data["img_metas"][0]
    for meta in metas:
        meta["batch_input_shape"] = tuple(img.shape[-2:])
    return img, metas


def rel_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.float().cpu(), theirs.float().cpu()
    if ours.shape != theirs.shape:
        return float("inf")
    return float((ours - theirs).abs().max() / (1 + theirs.abs().max()))


def compare_network(mm_model, hf_model, img, metas) -> dict[str, float]:
    with torch.no_grad():
        feats = mm_model.extract_feat(img)
        hf_feats = hf_model.model.pixel_level_module.encoder(img).feature_maps
        out = {f"backbone stage {i + 1}": rel_diff(h, m) for i, (h, m) in enumerate(zip(hf_feats, feats))}
        mask_feature, multi_scale = mm_model.panoptic_head.pixel_decoder(feats)
        hf_dec = hf_model.model.pixel_level_module.decoder(list(hf_feats))
        out["pixel decoder mask features"] = rel_diff(hf_dec.mask_features, mask_feature)
        for i, (h, m) in enumerate(zip(hf_dec.multi_scale_features, multi_scale)):
            out[f"pixel decoder level {i}"] = rel_diff(h, m)
        cls_list, mask_list = mm_model.panoptic_head(feats, metas)
        hf_out = hf_model(pixel_values=img)
        out["class probabilities"] = rel_diff(hf_out.class_queries_logits.softmax(-1), cls_list[-1].softmax(-1))
        out["mask logits"] = rel_diff(hf_out.masks_queries_logits, mask_list[-1])
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def compare_detections(mm_result, ours, classes, args) -> list[str]:
    """Per class, both sides sorted by score; the i-th of each are compared."""
    bboxes, segms = mm_result
    problems = []
    for index, name in enumerate(classes):
        theirs = sorted(zip(bboxes[index].tolist(), segms[index]), key=lambda t: -t[0][4])
        mine = sorted((d for d in ours if d.label == name), key=lambda d: -d.score)
        above = (sum(b[4] > 0.3 for b, _ in theirs), sum(d.score > 0.3 for d in mine))
        if len(theirs) != len(mine) or above[0] != above[1]:
            problems.append(f"{name}: {len(theirs)} vs {len(mine)} detections, {above[0]} vs {above[1]} above 0.3")
            continue
        for (box, mask), det in zip(theirs, mine):
            if abs(box[4] - det.score) > args.score_tol:
                problems.append(f"{name}: score {box[4]:.4f} vs {det.score:.4f}")
            elif max(abs(x - y) for x, y in zip(box[:4], det.box)) > args.box_tol:
                problems.append(f"{name}: box {box[:4]} vs {det.box}")
            elif det.score > 0.05 and iou(np.asarray(mask), det.mask) < args.min_iou:
                problems.append(f"{name}: mask IoU {iou(np.asarray(mask), det.mask):.3f}")
    return problems


def default_config(package: Path) -> str:
    """GenEval's layout (a source checkout: <mmdet>/../configs) or the PyPI wheel's (mmdet/.mim/configs)."""
    for candidate in (package.parent / CONFIG, package / ".mim" / CONFIG):
        if candidate.is_file():
            return str(candidate)
    raise SystemExit(f"mmdet config not found at {package.parent / CONFIG} or {package / '.mim' / CONFIG}; "
                     "pass --config")


def main() -> int:
    args = parse_args()
    try:
        mmdet = require("mmdet", "mmdet", "the mmdet comparison (with a compiled mmcv-full 1.x)")
    except UnoError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not mmdet.__version__.startswith("2."):
        print(f"mmdet {mmdet.__version__} found; GenEval's detector runs on mmdet 2.x", file=sys.stderr)
        return 2
    from mmdet.apis import inference_detector, init_detector

    config = args.config or default_config(Path(mmdet.__file__).parent)
    work = Path(tempfile.mkdtemp(prefix="uno-mmdet-check-"))
    if args.checkpoint:
        mm_model = init_detector(config, args.checkpoint, device=args.device)
        checkpoint = Path(args.checkpoint)
    else:
        os.environ["UNO_CACHE_DIR"] = str(work / "cache")  # keep random conversions out of the real cache
        mm_model = init_detector(config, None, device=args.device)
        if not hasattr(mm_model, "CLASSES"):  # mmdet 2.x sets CLASSES only when it loads a checkpoint
            from mmdet.datasets import DATASETS

            mm_model.CLASSES = DATASETS.get(mm_model.cfg.data.test.type).CLASSES
        randomize(mm_model, args.seed)
        checkpoint = work / "random_mask2former.pth"
        torch.save({"state_dict": {k: v.cpu() for k, v in mm_model.state_dict().items()},
                    "meta": {"CLASSES": tuple(mm_model.CLASSES)}}, checkpoint)
    mm_model.eval()
    hf_model, weights = load_model(WeightsSource("mmdet", checkpoint))
    detector = Mask2FormerDetector(hf_model, weights, torch.device(args.device))
    classes = [str(c) for c in mm_model.CLASSES]
    images = [Path(p) for p in args.images] if args.images else synthetic_images(work, args.seed)

    failures = 0
    for path in images:
        print(f"== {path}")
        img, metas = mmdet_inputs(mm_model, path, args.device)
        prepared = pipeline.preprocess(load_image(path), args.device)
        diff = (prepared.pixel_values - img).abs()
        grey = 1 / min(pipeline.STD_RGB) + 1e-4
        pre_ok = prepared.pixel_values.shape == img.shape and float(diff.max()) <= grey
        print(f"  preprocessing: shape {tuple(img.shape)}, max diff {float(diff.max()):.5f} "
              f"(one grey level = {grey:.5f}), {float((diff > 1e-4).float().mean()):.4%} of values differ"
              + ("" if pre_ok else "  <-- FAIL"))
        failures += not pre_ok
        for name, value in compare_network(mm_model, detector.model, img, metas).items():
            ok = value <= args.net_tol
            failures += not ok
            print(f"  network {name}: {value:.2e}" + ("" if ok else "  <-- FAIL"))
        with torch.no_grad():
            mm_result = inference_detector(mm_model, str(path))
        ours = detector.detect(load_image(path), classes)
        problems = compare_detections(mm_result, ours, classes, args)
        failures += len(problems)
        counted = (f"{sum(len(b) for b in mm_result[0])} compared (mmdet) / {len(ours)} (uno), "
                   f"top score {max((d.score for d in ours), default=0.0):.3f}")
        print("  detections: " + ("match" if not problems else f"{len(problems)} differences") + f"; {counted}")
        for line in problems[:20]:
            print(f"    {line}")
    print("OK" if not failures else f"{failures} check(s) out of tolerance")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
