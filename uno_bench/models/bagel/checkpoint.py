"""Load and save BAGEL checkpoints in the official folder layout.

Folder: `ema.safetensors` (the flat keys of ByteDance-Seed/BAGEL-7B-MoT, see model.py), `ae.safetensors`
(FLUX key space), `llm_config.json`, `vit_config.json`, tokenizer files; ours add `vae_config.json` and
`bagel_config.json`. Loading builds the model on the meta device and assigns each tensor straight
into place (on its target device and dtype), so a 14.6B model never exists twice in memory. Every
key is checked first: a missing or unexpected key or a shape that disagrees with the config is an
error naming the keys — never a silent partial load (the official loaders use strict=False).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from uno_bench.errors import UnoError
from uno_bench.models.bagel.config import VAE_CONFIG_FILE, BagelConfig, read_config, write_config
from uno_bench.models.bagel.model import Bagel
from uno_bench.models.bagel.tokenizer import BagelTokenizer
from uno_bench.models.bagel.vae import (
    LatentCodec,
    build_autoencoder,
    check_vae_shape,
    diffusers_to_flux,
    flux_to_diffusers,
)

WEIGHTS_FILE = "ema.safetensors"
AE_FILE = "ae.safetensors"
_MAX_LISTED = 12


@dataclass
class LoadedBagel:
    model: Bagel
    codec: LatentCodec | None
    tokenizer: BagelTokenizer
    config: BagelConfig
    path: Path
    identity: dict


# ----------------------------------------------------------------------------- checks


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def check_state_keys(expected: dict[str, torch.Size], found: dict[str, list[int]], what: str, path: Path) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(found) if list(expected[k]) != list(found[k]))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if mismatched:
        detail = [f"{k} {list(found[k])} vs config {list(expected[k])}" for k in mismatched]
        problems.append(f"{len(mismatched)} shape mismatch(es): {_listing(detail)}")
    if problems:
        raise UnoError(f"{what} in {path} does not match the model config: " + "; ".join(problems))


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    header = _safetensors_header(path)
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _safetensors_header(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            size = struct.unpack("<Q", f.read(8))[0]
            if size > 100_000_000:
                raise ValueError("header too large")
            return json.loads(f.read(size))
    except FileNotFoundError:
        raise UnoError(f"{path.name} is missing from {path.parent}") from None
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise UnoError(f"{path} is not a readable safetensors file ({exc})") from None


def checkpoint_identity(folder: Path) -> dict:
    """A cheap, stable identity: sha256 over the safetensors headers, file sizes and config files
    (hashing 29 GB of weights per run would take minutes; headers change whenever tensors do in
    any way that matters for a different checkpoint, and sizes guard against truncation)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
        p = folder / name
        if name.endswith(".safetensors"):
            h.update(name.encode())
            h.update(str(p.stat().st_size).encode())
            h.update(json.dumps(_safetensors_header(p), sort_keys=True).encode())
        elif name.endswith(".json"):
            h.update(name.encode())
            h.update(p.read_bytes())
    return {"path": str(folder.resolve()), "weights_sha256": h.hexdigest()}


# ----------------------------------------------------------------------------- load


def resolve_checkpoint(spec: str | Path) -> Path:
    """`tiny` -> the embedded default checkpoint; an existing folder -> itself; OWNER/NAME[@REVISION] ->
    that Hugging Face model repo's snapshot in the hub cache (a folder of that name wins)."""
    if str(spec) == "tiny":
        from uno_bench.assets import tiny_checkpoint_dir

        return tiny_checkpoint_dir()
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    from uno_bench.models.hub import parse_repo_id, resolve_repo

    repo = parse_repo_id(str(spec)) if isinstance(spec, str) else None
    if repo is None:
        raise UnoError(f"checkpoint folder not found: {path}")
    return resolve_repo(*repo)


def _target_device(device_map: dict[str, str | int] | None, key: str, default: torch.device) -> torch.device:
    if not device_map:
        return default
    best = ""
    for prefix in device_map:  # longest matching module prefix wins
        if (key == prefix or key.startswith(prefix + ".") or prefix == "") and len(prefix) >= len(best):
            best = prefix
    dev = device_map.get(best, default)
    return torch.device(f"cuda:{dev}" if isinstance(dev, int) else dev)


def load_state_into(module: nn.Module, path: Path, dtype: torch.dtype | None, device: torch.device,
                    what: str, rename=None, device_map=None) -> None:
    """Assign the tensors of a safetensors file into a meta-device module, strictly. `rename`
    translates a state dict from the file's key space (applied to meta tensors first, so key and
    shape checks happen before any weight is read)."""
    from safetensors import safe_open

    shapes = _safetensors_shapes(path)
    if rename is not None:
        shapes = {k: list(v.shape) for k, v in rename(
            {k: torch.empty(s, device="meta") for k, s in shapes.items()}).items()}
    expected = {k: v.shape for k, v in module.state_dict(keep_vars=True).items()}
    check_state_keys(expected, shapes, what, path)

    def place(key: str, tensor: torch.Tensor) -> torch.Tensor:
        cast = dtype if (dtype is not None and tensor.is_floating_point()) else tensor.dtype
        return tensor.to(device=_target_device(device_map, key, device), dtype=cast)

    with safe_open(str(path), framework="pt", device="cpu") as f:
        if rename is None:  # stream: one tensor in host memory at a time
            state = {k: place(k, f.get_tensor(k)) for k in f.keys()}
        else:
            state = {k: place(k, v) for k, v in rename({k: f.get_tensor(k) for k in f.keys()}).items()}
    module.load_state_dict(state, strict=True, assign=True)


def load(spec: str | Path, dtype: torch.dtype = torch.bfloat16, device: str | torch.device = "cpu",
         vae_dtype: torch.dtype = torch.float32, device_map: dict | str | None = None,
         max_memory: dict | None = None, with_vae: bool = True) -> LoadedBagel:
    """Load an official-layout BAGEL folder (or `tiny`). `device_map="auto"` spreads the decoder
    layers over the visible GPUs with accelerate (small embedders stay with `embed_tokens`, as
    the official app does)."""
    from uno_bench.runs.progress import spinner

    folder = resolve_checkpoint(spec)
    with spinner(f"loading checkpoint {spec}"):
        return _load(folder, dtype, device, vae_dtype, device_map, max_memory, with_vae)


def _load(folder: Path, dtype: torch.dtype, device: str | torch.device, vae_dtype: torch.dtype,
          device_map: dict | str | None, max_memory: dict | None, with_vae: bool) -> LoadedBagel:
    config = read_config(folder)
    # Without vae_config.json the FLUX VAE is assumed, and the model's latent layers are sized by it:
    # check the autoencoder file first, so a smaller one is named instead of failing as shape mismatches.
    if config.visual_gen and not (folder / VAE_CONFIG_FILE).exists() and (folder / AE_FILE).is_file():
        check_vae_shape(config.vae, _safetensors_shapes(folder / AE_FILE), folder / AE_FILE, VAE_CONFIG_FILE)
    device = torch.device(device)
    with torch.device("meta"):
        model = Bagel(config)
    if device_map == "auto":
        device_map = _auto_device_map(model, max_memory, dtype)
    load_state_into(model, folder / WEIGHTS_FILE, dtype, device, "ema.safetensors", device_map=device_map)
    if device_map:
        from accelerate import dispatch_model

        dispatch_model(model, device_map=device_map)
    model.eval()
    codec = None
    if with_vae and config.visual_gen:
        with torch.device("meta"):
            ae = build_autoencoder(config.vae)
        load_state_into(ae, folder / AE_FILE, vae_dtype, device if not device_map else model.device,
                        "ae.safetensors", rename=lambda sd: flux_to_diffusers(sd, config.vae))
        ae.eval()
        codec = LatentCodec(ae, config.vae, config.latent_patch_size)
    tokenizer = BagelTokenizer.from_folder(folder)
    if tokenizer.vocab_size > config.llm.vocab_size:
        raise UnoError(f"tokenizer has {tokenizer.vocab_size} tokens but the model only {config.llm.vocab_size}")
    return LoadedBagel(model, codec, tokenizer, config, folder, checkpoint_identity(folder))


def _auto_device_map(model: Bagel, max_memory: dict | None, dtype: torch.dtype) -> dict:
    from accelerate import infer_auto_device_map

    device_map = infer_auto_device_map(
        model, max_memory=max_memory, dtype=dtype,
        no_split_module_classes=["MoTDecoderLayer", "SiglipEncoderLayer"],
    )
    # The packing code mixes these modules' outputs on one device (as in the official app).
    home = device_map.get("language_model.model.embed_tokens", device_map.get("", 0))
    for name in ("time_embedder", "latent_pos_embed", "vae2llm", "llm2vae", "connector", "vit_pos_embed",
                 "language_model.model.embed_tokens"):
        device_map[name] = home
    return device_map


# ----------------------------------------------------------------------------- save


def save(folder: Path, model: Bagel, tokenizer: BagelTokenizer, codec: LatentCodec | None,
         dtype: torch.dtype | None = None, extra_tensors: dict[str, torch.Tensor] | None = None,
         state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the official layout. `state` replaces the model's own state dict (e.g. EMA weights,
    or full tensors gathered from FSDP shards). `extra_tensors` (e.g. UNO metaqueries) go to a
    side file the official loaders never read, so the folder stays a plain BAGEL checkpoint."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if state is None else state
    state = {k: (v.to(dtype) if dtype and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in state.items()}
    _atomic_save(save_file, state, folder / WEIGHTS_FILE)
    write_config(model.config, folder)
    if codec is not None:
        ae_state = {k: v.detach().cpu().contiguous() for k, v in codec.ae.state_dict().items()}
        _atomic_save(save_file, diffusers_to_flux(ae_state, model.config.vae), folder / AE_FILE)
    tokenizer.save(folder)
    if extra_tensors:
        tensors = {k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}
        _atomic_save(save_file, tensors, folder / "uno_extra.safetensors")
    return folder


def _atomic_save(save_file, tensors: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)
