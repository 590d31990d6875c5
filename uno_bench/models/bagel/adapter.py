"""`BagelAdapter`: the harness's view of a BAGEL checkpoint (generate / edit / understand)."""

from __future__ import annotations

import contextlib
from dataclasses import astuple, replace
from typing import Any

import torch
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models.adapter import EditRequest, GenerationRequest
from uno_bench.models.bagel import checkpoint
from uno_bench.models.bagel.config import BagelConfig, ImageTransformConfig
from uno_bench.models.bagel.sampler import COMPILE_MODES, edit_images, generate_images
from uno_bench.models.bagel.understand import describe
from uno_bench.models.settings import EDIT_DEFAULTS, SamplerSettings

PRECISIONS = {
    "bf16": (torch.bfloat16, False),
    "fp32": (torch.float32, False),
    # The official eval scripts: fp32 weights under bf16 autocast (ByteDance-Seed/Bagel@056b5fd
    # eval/gen/gen_images_mp.py; BAGEL issue #123: the reported numbers used fp32 weights).
    "fp32-autocast-bf16": (torch.float32, True),
}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class BagelAdapter:
    name = "bagel"

    def __init__(self, ckpt: str, settings: SamplerSettings | None = None, edit_settings: SamplerSettings | None = None,
                 precision: str | None = None, device: str | None = None, batch_size: int = 4,
                 device_map: str | None = None, compile: str = "off"):
        self.device = device or default_device()
        if compile not in COMPILE_MODES:
            raise UnoError(f"unknown compile mode {compile!r} (choose from {', '.join(COMPILE_MODES)})")
        if compile == "cudagraphs" and torch.device(self.device).type != "cuda":
            raise UnoError("compile=cudagraphs needs a CUDA device; use compile=default")
        # Like the device and batch size, not part of identity(): a compiled step draws the same
        # images up to float rounding, so a run may be resumed with or without it.
        self.compile = compile
        precision = precision or ("fp32" if self.device == "cpu" else "bf16")
        if precision not in PRECISIONS:
            raise UnoError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
        self.precision = precision
        dtype, self.autocast = PRECISIONS[precision]
        self.loaded = checkpoint.load(ckpt, dtype=dtype, device=self.device, device_map=device_map)
        self.settings = settings or SamplerSettings()
        # A harness run passes its suite's settings, which for an editing suite are that benchmark's
        # edit settings (cfg, interval, renorm, source resize); without any, BAGEL's edit defaults.
        self.edit_settings = edit_settings or settings or EDIT_DEFAULTS
        self.vae_transform, self.vit_transform = source_transforms(self.loaded.config, self.edit_settings)
        self.batch_size = max(1, batch_size)

    def _autocast(self):
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16)

    def identity(self) -> dict[str, Any]:
        """Everything that moves outputs; never the device or rank (ranks compare identities)."""
        return {
            "model": self.name,
            "checkpoint": {"weights_sha256": self.loaded.identity["weights_sha256"]},
            "precision": self.precision,
            "sampler": self.settings.to_dict(),
            "edit_sampler": self.edit_settings.to_dict(),
            "edit_source_resize": {"vae": list(astuple(self.vae_transform)), "vit": list(astuple(self.vit_transform))},
        }

    def generate(self, requests: list[GenerationRequest]) -> list[Image.Image]:
        out: list[Image.Image] = []
        for i in range(0, len(requests), self.batch_size):
            chunk = requests[i : i + self.batch_size]
            done: dict[int, Image.Image] = {}
            for w, h in sorted({(r.width, r.height) for r in chunk}):  # a denoising batch shares one size
                idx = [j for j, r in enumerate(chunk) if (r.width, r.height) == (w, h)]
                settings = self.settings.with_overrides(width=w, height=h)
                with self._autocast():
                    images = generate_images(self.loaded, [chunk[j].prompt for j in idx],
                                             [chunk[j].seed for j in idx], settings, compile=self.compile)
                done.update(zip(idx, images))
            out.extend(done[j] for j in range(len(chunk)))
        return out

    def edit(self, requests: list[EditRequest]) -> list[Image.Image]:
        out: list[Image.Image] = []
        for i in range(0, len(requests), self.batch_size):
            chunk = requests[i : i + self.batch_size]
            with self._autocast():
                out.extend(edit_images(self.loaded, [list(r.inputs) for r in chunk], [r.instruction for r in chunk],
                                       [r.seed for r in chunk], self.edit_settings,
                                       vae_transform=self.vae_transform, vit_transform=self.vit_transform,
                                       compile=self.compile))
        return out

    def understand(self, images: list[Image.Image], prompt: str, max_new_tokens: int = 64) -> list[str]:
        with self._autocast():
            return describe(self.loaded, images, prompt, max_new_tokens)


def source_transforms(config: BagelConfig, settings: SamplerSettings) -> tuple[ImageTransformConfig, ImageTransformConfig]:
    """The resize rules for edit inputs: a benchmark's sides from `extra` (vae_max_side, vae_min_side,
    vit_max_side, vit_min_side; e.g. GEdit: 1024/512 and 980/378), each capped at the checkpoint's own
    rule (a model cannot take larger inputs than it was built for: the tiny one stops at 64 px), with
    the checkpoint's stride. Without them, the checkpoint's own rules. The effective values are part
    of the adapter's identity."""
    def rule(own: ImageTransformConfig, prefix: str) -> ImageTransformConfig:
        top = min(int(settings.extra.get(f"{prefix}_max_side", own.max_size)), own.max_size)
        low = min(int(settings.extra.get(f"{prefix}_min_side", own.min_size)), top)
        return replace(own, max_size=top, min_size=low)

    return rule(config.vae_transform, "vae"), rule(config.vit_transform, "vit")


def load_adapter(ckpt: str | None, settings: SamplerSettings | None = None, device: str = "auto",
                 **options: str) -> BagelAdapter:
    """The harness's loader. Options (strings, from `--model-option key=value`): `precision`
    (bf16 | fp32 | fp32-autocast-bf16), `batch_size`, `device_map` (auto: spread over GPUs), `compile`
    (off | default | cudagraphs: the denoising step under torch.compile, + CUDA graphs)."""
    if not ckpt:
        raise UnoError("the bagel model needs --ckpt DIR (official layout) or --ckpt tiny")
    unknown = set(options) - {"precision", "batch_size", "device_map", "compile"}
    if unknown:
        raise UnoError(f"unknown bagel model option(s): {', '.join(sorted(unknown))} "
                       "(known: precision, batch_size, device_map, compile)")
    return BagelAdapter(
        ckpt, settings=settings, precision=options.get("precision"),
        device=None if device in (None, "auto") else device,
        batch_size=int(options.get("batch_size", 64)), device_map=options.get("device_map"),
        compile=options.get("compile", "off"),
    )
