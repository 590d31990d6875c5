"""`BagelAdapter`: the harness's view of a BAGEL checkpoint (generate / edit / understand)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models.adapter import EditRequest, GenerationRequest
from uno_bench.models.bagel import checkpoint
from uno_bench.models.bagel.sampler import edit_images, generate_images
from uno_bench.models.bagel.understand import describe
from uno_bench.models.settings import EDIT_DEFAULTS, SamplerSettings

PRECISIONS = {
    "bf16": (torch.bfloat16, False),
    "fp32": (torch.float32, False),
    # The official eval scripts: fp32 weights under bf16 autocast (bagel.md §2.2).
    "fp32-autocast-bf16": (torch.float32, True),
}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class BagelAdapter:
    name = "bagel"

    def __init__(self, ckpt: str, settings: SamplerSettings | None = None, edit_settings: SamplerSettings | None = None,
                 precision: str | None = None, device: str | None = None, batch_size: int = 4,
                 device_map: str | None = None):
        self.device = device or default_device()
        precision = precision or ("fp32" if self.device == "cpu" else "bf16")
        if precision not in PRECISIONS:
            raise UnoError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
        self.precision = precision
        dtype, self.autocast = PRECISIONS[precision]
        self.loaded = checkpoint.load(ckpt, dtype=dtype, device=self.device, device_map=device_map)
        self.settings = settings or SamplerSettings()
        self.edit_settings = edit_settings or EDIT_DEFAULTS.with_overrides(
            width=self.settings.width, height=self.settings.height)
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
                                             [chunk[j].seed for j in idx], settings)
                done.update(zip(idx, images))
            out.extend(done[j] for j in range(len(chunk)))
        return out

    def edit(self, requests: list[EditRequest]) -> list[Image.Image]:
        out: list[Image.Image] = []
        for i in range(0, len(requests), self.batch_size):
            chunk = requests[i : i + self.batch_size]
            with self._autocast():
                out.extend(edit_images(self.loaded, [r.image for r in chunk], [r.instruction for r in chunk],
                                       [r.seed for r in chunk], self.edit_settings))
        return out

    def understand(self, images: list[Image.Image], prompt: str, max_new_tokens: int = 64) -> list[str]:
        with self._autocast():
            return describe(self.loaded, images, prompt, max_new_tokens)


def load_adapter(ckpt: str | None, settings: SamplerSettings | None = None, device: str = "auto",
                 **options: str) -> BagelAdapter:
    """The harness's loader. Options (strings, from `--model-option key=value`): `precision`
    (bf16 | fp32 | fp32-autocast-bf16), `batch_size`, `device_map` (auto: spread over GPUs)."""
    if not ckpt:
        raise UnoError("the bagel model needs --ckpt DIR (official layout) or --ckpt tiny")
    unknown = set(options) - {"precision", "batch_size", "device_map"}
    if unknown:
        raise UnoError(f"unknown bagel model option(s): {', '.join(sorted(unknown))} "
                       "(known: precision, batch_size, device_map)")
    return BagelAdapter(
        ckpt, settings=settings, precision=options.get("precision"),
        device=None if device in (None, "auto") else device,
        batch_size=int(options.get("batch_size", 64)), device_map=options.get("device_map"),
    )
