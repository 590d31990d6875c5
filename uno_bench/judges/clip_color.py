"""GenEval's colour judge: open_clip ViT-L-14 with OpenAI's weights, zero-shot over colour names.

What the official scorer does (evaluation/evaluate_images.py with clip_benchmark's
metrics/zeroshot_classification.py), and this module with it:
  * model: open_clip.create_model_and_transforms("ViT-L-14", pretrained="openai"). open_clip 2.x (the
    versions GenEval ran) builds OpenAI models with QuickGELU in fp32; open_clip 3.x would build plain
    GELU for the same call, so QuickGELU is forced here.
  * classifier for object class X, built once per class: for each colour c, the three texts
    "a photo of a {c} X", "a photo of a {c}-colored X", "a photo of a {c} object" are encoded, each
    embedding L2-normalised, the three averaged and the mean renormalised: one column per colour.
  * each instance: composited over grey #999 through its mask, cropped to its box
    (`judges.base.prepare_crop`, honouring GenEval's bgcolor/crop options), then open_clip's
    evaluation transform (shortest side to 224 bicubic, centre crop 224, OpenAI mean/std).
  * batches of 16; logits = 100 * normalise(image embedding) @ classifier; colour = argmax. On CUDA,
    clip_benchmark runs both the text and the image side under fp16 autocast (its default amp=True);
    `clip.amp=auto` (default) does the same, on CPU everything is fp32.

Weights (never downloaded): `--judge-option clip.weights=PATH` (an open_clip state dict file, or a
folder holding one), else `$UNO_CACHE_DIR/judges/clip/`, else the Hugging Face cache of
timm/vit_large_patch14_clip_224.openai, where open_clip 3.x itself keeps the OpenAI weights.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from PIL import Image, ImageColor

from uno_bench.errors import UnoError
from uno_bench.judges.base import GENEVAL_CROP_BGCOLOR, Detection, prepare_crop
from uno_bench.judges.judge_options import own_options, parse_bool, parse_int
from uno_bench.judges.weights import judges_dir, resolve_device, sha256_file

NAMES = ("clip", "clip-vit-l-14")
KEYS = ("weights", "model", "amp", "batch_size")
PLAIN = ("device", "bgcolor", "crop")  # bgcolor/crop: GenEval rule options the suite passes on by name

MODEL = "ViT-L-14"
PRETRAINED = "openai"
HF_REPO = "timm/vit_large_patch14_clip_224.openai"
WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TEMPLATES = ("a photo of a {c} {obj}", "a photo of a {c}-colored {obj}", "a photo of a {c} object")
LOGIT_SCALE = 100.0  # clip_benchmark's fixed scale (argmax is unaffected; kept for fidelity)
BATCH_SIZE = 16  # the official DataLoader's


def class_texts(obj: str, colors: Sequence[str]) -> list[list[str]]:
    """The three prompts per colour for object class `obj`, colour-major."""
    return [[t.format(c=color, obj=obj) for t in TEMPLATES] for color in colors]


def templates_sha256() -> str:
    return hashlib.sha256(json.dumps(list(TEMPLATES)).encode()).hexdigest()


def zero_shot_weights(text_features: Sequence[Any]) -> Any:
    """clip_benchmark's classifier: per class, normalise each template embedding, average, renormalise.

    `text_features[k]` is (templates, dim) for class k; the result is (dim, classes).
    """
    import torch
    import torch.nn.functional as F

    columns = []
    for feats in text_features:
        mean = F.normalize(feats, dim=-1).mean(dim=0)
        columns.append(mean / mean.norm())
    return torch.stack(columns, dim=1)


def zero_shot_logits(image_features: Any, weights: Any) -> Any:
    import torch.nn.functional as F

    return LOGIT_SCALE * F.normalize(image_features, dim=-1) @ weights


class ClipColorClassifier:
    """One colour per detection, from a CLIP model's zero-shot classifier over colour names."""

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        info: Mapping[str, Any],
        device: Any = "cpu",
        amp: bool = False,
        batch_size: int = BATCH_SIZE,
        bgcolor: str = GENEVAL_CROP_BGCOLOR,
        crop: bool = True,
    ):
        import torch

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.info = dict(info)
        self.amp = amp
        self.batch_size = batch_size
        self.bgcolor = bgcolor
        self.crop = crop
        self._classifiers: dict[tuple[str, tuple[str, ...]], Any] = {}

    def identity(self) -> dict[str, Any]:
        # Through JSON so that it compares equal to itself read back from a run manifest.
        return json.loads(json.dumps({
            "name": "clip",
            **self.info,
            "templates": list(TEMPLATES),
            "templates_sha256": templates_sha256(),
            "classifier": "clip_benchmark zero-shot: normalise, mean over templates, renormalise",
            "logit_scale": LOGIT_SCALE,
            "amp_fp16": self.amp,
            "bgcolor": self.bgcolor,
            "crop": self.crop,
        }))

    def _autocast(self) -> Any:
        import torch

        return torch.autocast(self.device.type, dtype=torch.float16) if self.amp else nullcontext()

    def class_weights(self, obj: str, colors: Sequence[str]) -> Any:
        """The (dim, colours) classifier for object class `obj`, built once and cached."""
        import torch

        key = (obj, tuple(colors))
        if key not in self._classifiers:
            with torch.no_grad(), self._autocast():
                feats = [self.model.encode_text(self.tokenizer(texts).to(self.device))
                         for texts in class_texts(obj, colors)]
                self._classifiers[key] = zero_shot_weights(feats)
        return self._classifiers[key]

    def crops(self, image: Image.Image, detections: Sequence[Detection]) -> list[Image.Image]:
        rgb = image.convert("RGB")
        return [prepare_crop(rgb, det, bgcolor=self.bgcolor, crop=self.crop) for det in detections]

    def classify(
        self, image: Image.Image, detections: Sequence[Detection], class_name: str, colors: Sequence[str]
    ) -> list[str]:
        import torch

        if not detections:
            return []
        weights = self.class_weights(class_name, colors)
        crops = self.crops(image, detections)
        picks: list[int] = []
        with torch.no_grad():
            for start in range(0, len(crops), self.batch_size):
                batch = torch.stack([self.preprocess(c) for c in crops[start:start + self.batch_size]])
                with self._autocast():
                    logits = zero_shot_logits(self.model.encode_image(batch.to(self.device)), weights)
                picks += logits.float().argmax(dim=1).tolist()
        return [colors[i] for i in picks]


# --------------------------------------------------------------------------------------- loading


def missing_weights_message(model_name: str) -> str:
    if model_name != MODEL:
        return f"clip.model={model_name} needs its weights: pass --judge-option clip.weights=PATH"
    return (
        f"GenEval's colour judge weights (open_clip {MODEL}, OpenAI) are in neither {judges_dir() / 'clip'} "
        f"nor the Hugging Face cache: download {WEIGHT_FILES[0]} from the hub repo {HF_REPO} "
        f"(e.g. `huggingface-cli download {HF_REPO} {WEIGHT_FILES[0]}`) into one of them, "
        "or pass --judge-option clip.weights=PATH"
    )


def locate_weights(option: str | None, model_name: str = MODEL) -> Path:
    if option:
        path = Path(option).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            for name in WEIGHT_FILES:
                if (path / name).is_file():
                    return path / name
            raise UnoError(f"clip.weights={option}: the folder has none of {', '.join(WEIGHT_FILES)}")
        raise UnoError(f"clip.weights={option}: no such file or folder")
    if model_name == MODEL:
        for name in WEIGHT_FILES:
            if (judges_dir() / "clip" / name).is_file():
                return judges_dir() / "clip" / name
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
            try_to_load_from_cache = None
        for name in WEIGHT_FILES if try_to_load_from_cache else ():
            found = try_to_load_from_cache(HF_REPO, name)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    raise UnoError(missing_weights_message(model_name))


def read_state_dict(path: Path) -> dict[str, Any]:
    """An open_clip state dict from safetensors, or from a torch file loaded with weights_only=True."""
    from safetensors import SafetensorError

    from uno_bench.judges.weights import load_torch_file

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except SafetensorError as exc:
            raise UnoError(f"{path}: not a readable safetensors file ({exc})") from None
    else:
        state = load_torch_file(path)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise UnoError(f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def build_model(model_name: str, weights: Path) -> tuple[Any, Any, Any]:
    """(model, evaluation transform, tokenizer): open_clip builds, uno loads the weights strictly.

    Loading here rather than through open_clip's `pretrained=` keeps the loading safe with every
    open_clip version (older ones call torch.load without weights_only).
    """
    import open_clip

    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            model_name, force_quick_gelu=True, precision="fp32"
        )
    except RuntimeError as exc:
        raise UnoError(f"clip.model={model_name}: {str(exc).splitlines()[0]}") from None
    state = read_state_dict(weights)
    result = model.load_state_dict(state, strict=False)
    problems = [f"missing {k}" for k in result.missing_keys] + [f"unexpected {k}" for k in result.unexpected_keys]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} in all)" if len(problems) > 5 else "")
        raise UnoError(f"{weights}: not open_clip {model_name} weights: {shown}")
    return model, preprocess, open_clip.get_tokenizer(model_name)


def _bgcolor(raw: str) -> str:
    if raw != "original":
        try:
            ImageColor.getrgb(raw)
        except ValueError:
            raise UnoError(f"bgcolor={raw!r}: expected a colour (e.g. #999) or 'original'") from None
    return raw


def load_judge(role: str, options: Mapping[str, str]) -> ClipColorClassifier:
    """Registry factory: `clip` fills the colour role."""
    if role != "colors":
        raise UnoError("clip is a colour judge: name a detector before it, e.g. --judge mask2former+clip")
    opts = own_options(NAMES, options, KEYS, plain=PLAIN)
    device = resolve_device(opts.get("device"))
    amp_raw = opts.get("amp", "auto")
    amp = device.type == "cuda" if amp_raw.strip().lower() == "auto" else parse_bool("clip.amp", amp_raw)
    model_name = opts.get("model", MODEL)
    weights = locate_weights(opts.get("weights"), model_name)
    model, preprocess, tokenizer = build_model(model_name, weights)
    visual_cfg = getattr(getattr(model, "visual", None), "preprocess_cfg", None)
    info = {
        "model": model_name,
        "pretrained": PRETRAINED if model_name == MODEL else "custom",
        "quick_gelu": True,
        "weights": {"file": weights.name, "sha256": sha256_file(weights)},
        "preprocess": dict(visual_cfg) if isinstance(visual_cfg, Mapping) else str(preprocess),
    }
    return ClipColorClassifier(
        model, preprocess, tokenizer, info, device=device, amp=amp,
        batch_size=parse_int("clip.batch_size", opts.get("batch_size", str(BATCH_SIZE))),
        bgcolor=_bgcolor(opts.get("bgcolor", GENEVAL_CROP_BGCOLOR)),
        crop=parse_bool("crop", opts.get("crop", "1")),
    )
