"""Sampler settings: everything that changes a generated image, recorded in every run manifest.

Defaults are BAGEL's published text-to-image defaults (ByteDance-Seed/Bagel@056b5fd inference.ipynb, the
`inference_hyper` of its text-to-image cell; README "About Inference Hyperparameters").
Batch size is deliberately absent: an image never depends on which batch it was drawn in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

RenormType = Literal["global", "channel", "text_channel"]


@dataclass(frozen=True)
class SamplerSettings:
    num_timesteps: int = 50  # N points of the shifted linspace = N - 1 network evaluations
    timestep_shift: float = 3.0
    cfg_text_scale: float = 4.0
    cfg_img_scale: float = 1.0
    cfg_interval: tuple[float, float] = (0.4, 1.0)  # guidance applies when lo < t <= hi
    cfg_renorm_type: RenormType = "global"
    cfg_renorm_min: float = 0.0
    # BAGEL computes `global` renorm over the whole packed batch (a defect that couples batched
    # images); off by default, on for bit-parity with the official code at batch size > 1.
    official_batch_global_renorm: bool = False
    width: int = 1024
    height: int = 1024
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cfg_interval"] = list(self.cfg_interval)
        return d

    def with_overrides(self, **changes: Any) -> SamplerSettings:
        changes = {k: v for k, v in changes.items() if v is not None}
        if "cfg_interval" in changes:
            changes["cfg_interval"] = tuple(changes["cfg_interval"])
        return replace(self, **changes)


# BAGEL's published editing defaults (ByteDance-Seed/Bagel@056b5fd inference.ipynb editing cell, app.py).
EDIT_DEFAULTS = SamplerSettings(
    cfg_text_scale=4.0, cfg_img_scale=2.0, cfg_interval=(0.0, 1.0), cfg_renorm_type="text_channel"
)
