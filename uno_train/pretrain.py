"""`uno-train pretrain`: a BAGEL-architecture model trained from scratch, phase by phase.

Phases (each resumable: a finished phase is reused, an interrupted training phase resumes):
1. the autoencoder on source images (`OUT/vae/`), with latent scale/shift measured afterwards;
2. where the preset has one, the image encoder's own pre-training (`OUT/vit/`, `uno_train/vit_pretrain.py`:
   which shapes a scene holds), as BAGEL starts from a pretrained SigLIP;
3. the model: understanding (captioning from ViT tokens) and generation (text-to-image flow
   matching) together, via the trainer (`OUT/checkpoints/`, `OUT/latest`);
4. export of the EMA weights as a plain BAGEL folder in OUT, plus `OUT/recipe.json` (settings,
   timings, versions) and a held-out captioning score.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.model import Bagel
from uno_bench.models.bagel.tokenizer import BagelTokenizer, word_level_tokenizer
from uno_bench.models.bagel.vae import LatentCodec, build_autoencoder, diffusers_to_flux, flux_to_diffusers
from uno_train.data import ShapesSource
from uno_train.presets import Preset
from uno_train.trainer import Trainer
from uno_train.vae_train import train_vae


def _image_stream(seed: int, size: int):
    import numpy as np

    from uno_bench.shapes import world
    from uno_bench.shapes.render import render

    return lambda i: render(world.sample_scene(np.random.default_rng([seed, i])), size)


@torch.no_grad()
def _posterior_balance(ae, images, start: int, n: int = 256) -> dict:
    """How much of a latent is signal: the spread of posterior means vs the average posterior std."""
    from uno_bench.models.bagel.transforms import to_tensor

    x = torch.stack([to_tensor(images(start + i)) for i in range(n)])
    dist = ae.encode(x).latent_dist
    return {"mean_spread": float(dist.mean.std()), "posterior_std": float(dist.std.mean())}


def _vae_phase(out: Path, preset: Preset, source: ShapesSource, log) -> tuple[torch.nn.Module, object, float]:
    """Train (or reuse) the autoencoder, then measure the latent scale/shift of the latents the
    model will actually see (samples or means, per the preset's `sample_posterior`)."""
    from safetensors.torch import load_file, save_file

    from uno_train.vae_train import latent_statistics

    folder = out / "vae"
    done = folder / "vae.json"
    tok = word_level_tokenizer(source.words())
    cfg = preset.model_config(tok.vocab_size).vae
    images = _image_stream(preset.seed + 1, preset.image_size)
    seconds = 0.0
    if done.exists():
        meta = json.loads(done.read_text())
        with torch.device("meta"):
            ae = build_autoencoder(cfg)
        ae.load_state_dict(flux_to_diffusers(load_file(str(folder / "ae.safetensors")), cfg), assign=True)
        ae.eval()
        log(f"autoencoder: reusing {folder} (trained in {meta['seconds']:.0f} s)")
    else:
        t0 = time.perf_counter()
        ae, _, history = train_vae(cfg, images, preset.vae, log)
        seconds = time.perf_counter() - t0
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in ae.state_dict().items()}
        save_file(diffusers_to_flux(state, cfg), str(folder / "ae.safetensors"))
        meta = {"seconds": seconds, "history": history}
    held_out = 10**7  # far beyond any index the training stream used
    scale, shift = latent_statistics(ae, images, held_out, 512, cfg.sample_posterior)
    cfg = replace(cfg, scale_factor=scale, shift_factor=shift)
    meta.update(config=asdict(cfg), balance=_posterior_balance(ae, images, held_out))
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(meta, indent=2))
    log(f"autoencoder latents: scale {scale:.4f}, shift {shift:.4f}, balance {meta['balance']}")
    return ae, cfg, seconds


def _vit_phase(out: Path, preset: Preset, model: Bagel, log) -> tuple[float, list[dict]]:
    """Pre-train (or reuse) the image path of `model` in place; the weights land in `OUT/vit/`."""
    from safetensors.torch import load_file, save_file

    from uno_train.vit_pretrain import image_path_state, train_vit

    folder = out / "vit"
    done = folder / "vit.json"
    if done.exists():
        meta = json.loads(done.read_text())
        model.load_state_dict(load_file(str(folder / "vit.safetensors")), strict=False)
        log(f"ViT pre-training: reusing {folder} (held-out per-shape accuracy {meta['history'][-1]['per_label']:.3f})")
        return 0.0, meta["history"]
    t0 = time.perf_counter()
    history = train_vit(model, preset.image_size, preset.seed, preset.vit, log)
    seconds = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    save_file({n: t.contiguous() for n, t in image_path_state(model).items()}, str(folder / "vit.safetensors"))
    done.write_text(json.dumps({"seconds": seconds, "config": asdict(preset.vit), "history": history}, indent=2))
    return seconds, history


def pretrain(preset: Preset, out: Path, resume: bool = True, log=print,
             init: dict[str, torch.Tensor] | None = None) -> dict:
    """`init`: tensors loaded over the fresh initialisation by name (e.g. a pre-trained ViT), before
    training; a resumed run takes its weights from the checkpoint instead."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(preset.seed)
    source = ShapesSource(seed=preset.seed, image_size=preset.image_size, **preset.source)
    t_start = time.perf_counter()
    ae, vae_cfg, vae_seconds = _vae_phase(out, preset, source, log)

    tok: BagelTokenizer = word_level_tokenizer(source.words())
    config = replace(preset.model_config(tok.vocab_size), vae=vae_cfg)
    torch.manual_seed(preset.seed)
    model = Bagel(config)
    model.init_weights(zero_velocity_head=True)
    if init:
        unknown = sorted(set(init) - set(model.state_dict()))
        if unknown:
            raise ValueError(f"init holds tensors the model does not have: {unknown[:5]}")
        model.load_state_dict(init, strict=False)
    vit_seconds, vit_history = 0.0, []
    resuming = resume and (out / "latest").exists()  # the checkpoint holds the weights
    if preset.vit is not None and not resuming:
        vit_seconds, vit_history = _vit_phase(out, preset, model, log)
    elif preset.vit is not None and (out / "vit" / "vit.json").exists():
        vit_history = json.loads((out / "vit" / "vit.json").read_text())["history"]
    loaded = LoadedBagel(model, LatentCodec(ae, vae_cfg, config.latent_patch_size), tok, config, out, {})
    trainer = Trainer(loaded, source, replace(preset.train, seed=preset.seed), out, log=log)
    if resume and trainer.latest_checkpoint() is not None:
        log(f"resuming from {trainer.latest_checkpoint()} (step {trainer.resume()})")
    t_train = time.perf_counter()
    history = trainer.run()
    train_seconds = time.perf_counter() - t_train

    from uno_bench.models.bagel import checkpoint
    from uno_train.evaluate import caption_accuracy

    final = checkpoint.load(out, dtype=torch.float32)
    captions = caption_accuracy(final, n=500, seed=10_000 + preset.seed, image_size=preset.image_size)
    recipe = {
        "preset": preset.name,
        "description": preset.description,
        "train": preset.train.to_dict(),
        "vae_train": asdict(preset.vae),
        "vit_pretrain": asdict(preset.vit) if preset.vit is not None else None,
        "vit_pretrain_heldout": vit_history[-1] if vit_history else None,
        "source": {"kind": "shapes", "seed": preset.seed, "image_size": preset.image_size, **preset.source},
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": {"vae": vae_seconds, "vit": vit_seconds, "train": train_seconds, "total": time.perf_counter() - t_start},
        "final": history[-1] if history else None,
        "caption_exact_match_heldout": captions,
        "torch_threads": torch.get_num_threads(),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor()},
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    return recipe
