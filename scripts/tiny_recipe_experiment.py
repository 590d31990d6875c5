"""Short variants of the tiny-shapes recipe, for choosing the next recipe (docs/tiny_model.md).

Trains the model phase of `uno-train pretrain --preset tiny-shapes` with overrides, reusing the
shipped autoencoder (so a run spends its time on the model), then writes a plain BAGEL folder that
`uno-bench run shapes --ckpt OUT` scores. The learning-rate schedule keeps the recipe's shape
(warm-up 1/30 of the steps, then the recipe's schedule: constant since version 2). Example (the runs in docs/tiny_model.md, 1 thread each):

    python scripts/tiny_recipe_experiment.py --out runs/exp/lr3e3 --steps 2400 --lr 3e-3 --threads 1
    uno-bench run shapes --ckpt runs/exp/lr3e3 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from uno_bench.models.bagel.config import ImageTransformConfig
from uno_train.presets import IMAGE_SIZE, tiny_shapes, tiny_shapes_config
from uno_train.pretrain import pretrain

SHIPPED_AUTOENCODER = Path(__file__).resolve().parents[1] / "uno_bench" / "assets" / "tiny" / "ae.safetensors"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=64, help="examples per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--patch", type=int, default=2, help="latent patch size (1 = 4-px tokens, 256 per image)")
    p.add_argument("--t2i", type=float, default=0.6, help="share of text-to-image examples (rest: captioning)")
    p.add_argument("--shift", type=float, default=1.0, help="timestep shift of the training timesteps")
    p.add_argument("--edit-fraction", type=float, default=None, help="of the non-T2I examples, edits "
                   "(default: the recipe's)")
    p.add_argument("--init", type=Path, default=None, help="safetensors loaded over the initialisation by name "
                   "(e.g. a ViT from scripts/vit_shape_probe.py --save)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    def config(vocab_size: int):
        c = tiny_shapes_config(vocab_size)
        if a.patch != 2:
            stride = c.vae.downsample * a.patch
            c = replace(c, latent_patch_size=a.patch, max_latent_size=IMAGE_SIZE // stride,
                        vae_transform=ImageTransformConfig(IMAGE_SIZE, 32, stride))
        return c

    preset = tiny_shapes()
    train = replace(preset.train, steps=a.steps, batch_size=a.batch, lr=a.lr, min_lr=a.lr / 10,
                    warmup_steps=max(1, a.steps // 30), save_every=max(2, a.steps // 4), timestep_shift=a.shift)
    source = {**preset.source, "t2i_fraction": a.t2i}
    if a.edit_fraction is not None:
        source["edit_fraction"] = a.edit_fraction
    preset = replace(preset, train=train, source=source, model_config=config)
    vae = a.out / "vae"
    if not (vae / "vae.json").exists():  # the recipe's autoencoder phase reuses a finished folder
        vae.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHIPPED_AUTOENCODER, vae / "ae.safetensors")
        (vae / "vae.json").write_text(json.dumps({"seconds": 0.0, "history": [], "reused": str(SHIPPED_AUTOENCODER)}))
    init = None
    if a.init is not None:
        from safetensors.torch import load_file

        init = load_file(str(a.init))
    recipe = pretrain(preset, a.out, init=init)
    print(json.dumps({"train_minutes": recipe["seconds"]["train"] / 60,
                      "caption_exact_match": recipe["caption_exact_match_heldout"]["exact_match"],
                      "final": recipe["final"]}))


if __name__ == "__main__":
    main()
