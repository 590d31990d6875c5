"""GenEval's detector: Mask2Former Swin-S (COCO instance, 80 classes), run through transformers.

Weights, in order (`--judge-option mask2former.weights=PATH` overrides the search):
  * PATH to GenEval's mmdet checkpoint (`mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth`, or any
    mmdet 2.x Mask2Former Swin checkpoint) or to the folder holding it (GenEval's --model-path);
    converted once by `mmdet_convert` into `$UNO_CACHE_DIR/judges/converted/` and reused;
  * PATH to a transformers Mask2Former folder (config.json + weights), e.g. a hub download;
  * default: `$UNO_CACHE_DIR/judges/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth`.

Images go through mmdet's test pipeline and instance post-processing (`mask2former_pipeline`). Class
index i is reported as the suite's class name number i (GenEval's object_names.txt order), exactly as
the official scorer maps mmdet's per-class result lists.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges import mask2former_pipeline as pipeline
from uno_bench.judges import mmdet_convert
from uno_bench.judges.base import Detection
from uno_bench.judges.judge_options import own_options, parse_int
from uno_bench.judges.weights import judges_dir, resolve_device, sha256_file, sha256_files

NAMES = ("mask2former", "mmdet", "mask2former-swin-s")
KEYS = ("weights", "max_per_image")
# Tensors a transformers Mask2Former checkpoint may lack or carry extra, none used at test time:
# Swin's relative index (derived from the window size), SwinModel's unused final norm, and the
# training loss's class weights (rebuilt from the config).
_TOLERATED = ("relative_position_index", "swin.layernorm.weight", "swin.layernorm.bias", "criterion.empty_weight")


@dataclass(frozen=True)
class WeightsSource:
    kind: str  # "mmdet" (a .pth to convert) or "transformers" (a folder)
    path: Path


def default_weights() -> Path:
    return judges_dir() / mmdet_convert.OFFICIAL_CHECKPOINT


def missing_weights_message(where: Path) -> str:
    return (
        f"GenEval's detector weights are not at {where}. Download OpenMMLab's mmdet 2.x checkpoint "
        "https://download.openmmlab.com/mmdetection/v2.0/mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco/"
        "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth "
        f"(what GenEval's download_models.sh fetches), save it as {default_weights()}, "
        "or pass --judge-option mask2former.weights=PATH (that .pth, the folder holding it, "
        "or a transformers Mask2Former folder)"
    )


def locate_weights(option: str | None) -> WeightsSource:
    if not option:
        path = default_weights()
        if not path.is_file():
            raise UnoError(missing_weights_message(path))
        return WeightsSource("mmdet", path)
    path = Path(option).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return WeightsSource("transformers", path)
        if (path / mmdet_convert.OFFICIAL_CHECKPOINT).is_file():
            return WeightsSource("mmdet", path / mmdet_convert.OFFICIAL_CHECKPOINT)
        raise UnoError(
            f"mask2former.weights={option}: the folder has neither config.json (a transformers checkpoint) "
            f"nor {mmdet_convert.OFFICIAL_CHECKPOINT}"
        )
    if path.is_file():
        return WeightsSource("mmdet", path)
    raise UnoError(missing_weights_message(path))


def converted_folder(source: Path) -> tuple[Path, str, bool]:
    """(transformers folder for an mmdet .pth, its sha256, whether the folder is temporary)."""
    sha = sha256_file(source)
    cached = judges_dir() / "converted" / f"mask2former-{sha[:16]}-v{mmdet_convert.CONVERTER_VERSION}"
    info = mmdet_convert.conversion_info(cached)
    if info and info.get("source_sha256") == sha and (cached / "model.safetensors").is_file():
        return cached, sha, False
    try:
        return mmdet_convert.convert_checkpoint(source, cached, sha), sha, False
    except OSError:  # the cache is not writable: convert for this process only
        tmp = Path(tempfile.mkdtemp(prefix="uno-mask2former-"))
        return mmdet_convert.convert_checkpoint(source, tmp / "model", sha), sha, True


def load_transformers_folder(folder: Path) -> Any:
    """A transformers Mask2Former from a local folder; any missing or unexpected weight is an error."""
    from transformers import Mask2FormerForUniversalSegmentation

    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, json.JSONDecodeError) as exc:
        raise UnoError(f"{folder}/config.json: unreadable ({exc})") from None
    if model_type != "mask2former":
        raise UnoError(f"{folder}: model_type is {model_type!r}, not a Mask2Former checkpoint")
    model, info = Mask2FormerForUniversalSegmentation.from_pretrained(
        folder, output_loading_info=True, local_files_only=True
    )
    problems = [f"missing {k}" for k in info.get("missing_keys", []) if not k.endswith(_TOLERATED)]
    problems += [f"unexpected {k}" for k in info.get("unexpected_keys", []) if not k.endswith(_TOLERATED)]
    problems += [f"wrong shape {m[0] if isinstance(m, tuple) else m}" for m in info.get("mismatched_keys", [])]
    if problems:
        shown = "; ".join(sorted(problems)[:6]) + (f"; ... ({len(problems)} in all)" if len(problems) > 6 else "")
        raise UnoError(f"{folder}: the weights do not fit the model: {shown}")
    keep_swin_windows(model)
    return model.float().eval()


def keep_swin_windows(model: Any) -> None:
    """Never shrink Swin's attention window, as mmdet never does (it pads maps to whole windows).

    transformers' SwinLayer shrinks the window (and drops the shift) on feature maps at most
    `window_size` tokens wide, keeping the change for later images; recent SwinBackbone versions
    skip that with always_partition=True, older ones do not. Only very elongated images (about 1:6)
    reach such small maps.
    """
    for module in model.modules():
        if type(module).__name__ == "SwinLayer" and hasattr(module, "set_shift_and_window_size"):
            module.set_shift_and_window_size = lambda *_args, **_kwargs: None


def load_model(source: WeightsSource) -> tuple[Any, dict[str, Any]]:
    """(model, the weights' identity)."""
    if source.kind == "transformers":
        files = sorted(p for p in source.path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
        if not files:
            raise UnoError(f"{source.path}: no .safetensors or .bin weights in the folder")
        model = load_transformers_folder(source.path)
        return model, {"source": "transformers", "folder": source.path.name, "sha256": sha256_files(files)}
    folder, sha, temporary = converted_folder(source.path)
    try:
        model = load_transformers_folder(folder)
    finally:
        if temporary:
            shutil.rmtree(folder.parent, ignore_errors=True)
    weights = {
        "source": "mmdet",
        "file": source.path.name,
        "sha256": sha,
        "official": sha.startswith(mmdet_convert.OFFICIAL_SHA256_PREFIX),
        "converter_version": mmdet_convert.CONVERTER_VERSION,
    }
    return model, weights


class Mask2FormerDetector:
    """Raw instance detections of one image: every kept (query, class) pair with its mask."""

    def __init__(self, model: Any, weights: Mapping[str, Any], device: Any = "cpu",
                 max_per_image: int = pipeline.MAX_PER_IMAGE):
        self.model = model.to(device).eval()
        self.device = device
        self.weights = dict(weights)
        self.max_per_image = max_per_image

    def identity(self) -> dict[str, Any]:
        config = self.model.config
        backbone = config.backbone_config
        # Through JSON so that it compares equal to itself read back from a run manifest.
        return json.loads(json.dumps({
            "name": "mask2former",
            "implementation": "transformers Mask2FormerForUniversalSegmentation, mmdet 2.x pipeline",
            "architecture": {
                "backbone": f"swin embed_dim={backbone.embed_dim} depths={list(backbone.depths)} "
                            f"heads={list(backbone.num_heads)} window={backbone.window_size}",
                "hidden_dim": config.hidden_dim,
                "queries": config.num_queries,
                "decoder_layers": config.decoder_layers - 1,
                "classes": config.num_labels,
            },
            "weights": self.weights,
            "pipeline": {**pipeline.describe(), "max_per_image": self.max_per_image},
            "dtype": "float32",
        }))

    def detect(self, image: Image.Image, classes: Sequence[str]) -> list[Detection]:
        import torch

        num_labels = self.model.config.num_labels
        if len(classes) != num_labels:
            # A wrong vocabulary or checkpoint (the 133-class panoptic model, say) is a setup error
            # for every image alike, so stop rather than mark each sample unscored.
            raise ValueError(
                f"the Mask2Former weights have {num_labels} classes but the suite's vocabulary has "
                f"{len(classes)}: use the COCO instance-segmentation checkpoint"
            )
        prepared = pipeline.preprocess(image, self.device)
        with torch.inference_mode():
            out = self.model(pixel_values=prepared.pixel_values)
            found = pipeline.instance_postprocess(
                out.class_queries_logits[0].float(), out.masks_queries_logits[0].float(),
                prepared.batch_input_shape, prepared.img_shape, prepared.ori_shape, self.max_per_image,
            )
        labels = found.labels.cpu().tolist()
        scores = found.scores.cpu().tolist()
        boxes = found.boxes.cpu().tolist()
        rows = found.mask_index.cpu().tolist()
        masks = found.masks.cpu().numpy()
        return [
            Detection(classes[label], float(score), tuple(float(v) for v in box), masks[row])
            for label, score, box, row in zip(labels, scores, boxes, rows)
        ]


def load_judge(role: str, options: Mapping[str, str]) -> Mask2FormerDetector:
    """Registry factory: `mask2former` fills the detector role."""
    if role != "detector":
        raise UnoError("mask2former is a detector: name a colour judge after it, e.g. --judge mask2former+clip")
    opts = own_options(NAMES, options, KEYS)
    device = resolve_device(opts.get("device"))
    max_per_image = parse_int("mask2former.max_per_image", opts.get("max_per_image", str(pipeline.MAX_PER_IMAGE)))
    model, weights = load_model(locate_weights(opts.get("weights")))
    return Mask2FormerDetector(model, weights, device, max_per_image)
