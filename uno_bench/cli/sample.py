"""`uno-bench generate / edit / caption`: one-off sampling from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from uno_bench.cli import app
from uno_bench.cli import sampler_flags as flags
from uno_bench.errors import UnoError
from uno_bench.runs.progress import sampler_steps, spinner

CKPT_HELP = ("Checkpoint: a folder in the official BAGEL layout, a Hugging Face repo id OWNER/NAME[@REVISION] "
             "(e.g. ByteDance-Seed/BAGEL-7B-MoT), or `tiny` for the embedded default.")


def open_image(path: Path):
    """8-bit RGB; 16-bit, float, palette, alpha and CMYK images are scaled, not clipped (uno_bench.images)."""
    from PIL import Image, UnidentifiedImageError

    from uno_bench.images import to_rgb

    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb(im)
    except FileNotFoundError:
        raise UnoError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UnoError(f"cannot read image {path}: {exc}") from None


def check_writable(folder: Path) -> None:
    """Fail before the model runs, not after: create the folder and a scratch file in it."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UnoError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def save_image(image, path: Path) -> None:
    """Save a result; an unwritable or full destination is one line, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    except OSError as exc:
        raise UnoError(f"cannot write {path}: {exc.strerror or exc}") from None


def default_size(ckpt: str, side: int = 1024) -> tuple[int, int]:
    """BAGEL's usual 1024x1024, shrunk to the checkpoint's largest square when that is smaller."""
    from uno_bench.models.bagel.checkpoint import resolve_checkpoint
    from uno_bench.models.bagel.config import read_config

    config = read_config(resolve_checkpoint(ckpt))
    side = min(side, config.max_latent_size * config.latent_downsample)
    return side, side


def _load(ckpt: str, precision, device, batch_size, **settings):
    from uno_bench.models.bagel.adapter import BagelAdapter

    return BagelAdapter(ckpt, precision=precision, device=device, batch_size=batch_size, **settings)


def _warn_prompts(adapter, prompts: list[str]) -> None:
    from uno_bench.models import prompt_check

    warning = prompt_check.warning(prompt_check.prompt_report(adapter, prompts))
    if warning:
        typer.echo(warning, err=True)


T2I = flags.options("t2i")
EDIT = flags.options("edit")
PRECISION = typer.Option(None, "--precision",
                         help="bf16 | fp32 | fp32-autocast-bf16 (the official eval setting). Default: fp32 on CPU, bf16 on GPU.")
DEVICE = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... Default: cuda if available.")


@app.command(context_settings=flags.CONTEXT)
def generate(
    ckpt: str = typer.Option(..., "--ckpt", help=CKPT_HELP),
    prompt: list[str] = typer.Option(None, "--prompt", help="Prompt (repeat for several images)."),
    prompts_file: Path = typer.Option(None, "--prompts-file", help="Text file with one prompt per line."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first image; image i uses seed + i."),
    out: Path = typer.Option(..., "--out", help="Output PNG (one prompt) or folder (several prompts)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Images per denoising batch; never changes an image."),
    num_timesteps: int = T2I["num_timesteps"], timestep_shift: float = T2I["timestep_shift"],
    cfg_text_scale: float = T2I["cfg_text_scale"], cfg_img_scale: float = T2I["cfg_img_scale"],
    cfg_interval: str = T2I["cfg_interval"], cfg_renorm_type: str = T2I["cfg_renorm_type"],
    cfg_renorm_min: float = T2I["cfg_renorm_min"],
    width: int = flags.option("width", "t2i", "; or the model's largest square if smaller: 64 for `tiny`"),
    height: int = flags.option("height", "t2i", "; or the model's largest square if smaller"),
    size: str = flags.SIZE,
    precision: str = PRECISION, device: str = DEVICE,
) -> None:
    """Text-to-image with BAGEL's published defaults (50 steps, shift 3, cfg-text 4, interval 0.4-1, global renorm)."""
    from uno_bench.models.adapter import GenerationRequest
    from uno_bench.models.settings import SamplerSettings

    prompts = list(prompt or [])
    if prompts_file:
        if not prompts_file.is_file():
            raise UnoError(f"prompts file not found: {prompts_file}")
        prompts += [ln.strip() for ln in prompts_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not prompts:
        raise UnoError("give at least one --prompt or a --prompts-file")
    given = flags.overrides(num_timesteps, timestep_shift, cfg_text_scale, cfg_img_scale, cfg_interval,
                            cfg_renorm_type, cfg_renorm_min, width, height, size)
    if "width" not in given or "height" not in given:
        side_w, side_h = default_size(ckpt)
        given = {"width": side_w, "height": side_h, **given}
    w, h = given["width"], given["height"]
    single = len(prompts) == 1 and out.suffix.lower() == ".png"
    check_writable(out.parent if single else out)
    settings = SamplerSettings().with_overrides(**given)
    adapter = _load(ckpt, precision, device, batch_size, settings=settings)
    adapter.loaded.config.validate_image_size(w, h)
    _warn_prompts(adapter, prompts)
    requests = [GenerationRequest(p, seed + i, w, h) for i, p in enumerate(prompts)]
    batches = -(-len(requests) // max(1, batch_size))
    with sampler_steps(f"generate {len(requests)} image(s)", batches * (settings.num_timesteps - 1)):
        images = adapter.generate(requests)
    if single:
        save_image(images[0], out)
        typer.echo(str(out))
        return
    for i, im in enumerate(images):
        save_image(im, out / f"{i:05d}.png")
    typer.echo(f"{len(images)} images in {out}")


@app.command(context_settings=flags.CONTEXT)
def edit(
    ckpt: str = typer.Option(..., "--ckpt", help=CKPT_HELP),
    image: Path = typer.Option(..., "--image", help="Source image."),
    instruction: str = typer.Option(..., "--instruction", help="Edit instruction."),
    out: Path = typer.Option(..., "--out", help="Output PNG."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial noise (and of the source's VAE posterior sample)."),
    num_timesteps: int = EDIT["num_timesteps"], timestep_shift: float = EDIT["timestep_shift"],
    cfg_text_scale: float = EDIT["cfg_text_scale"], cfg_img_scale: float = EDIT["cfg_img_scale"],
    cfg_interval: str = EDIT["cfg_interval"], cfg_renorm_type: str = EDIT["cfg_renorm_type"],
    cfg_renorm_min: float = EDIT["cfg_renorm_min"],
    precision: str = PRECISION, device: str = DEVICE,
) -> None:
    """Edit an image with BAGEL's published edit defaults (cfg-text 4, cfg-img 2, interval 0-1, text_channel renorm)."""
    from uno_bench.models.adapter import EditRequest
    from uno_bench.models.settings import EDIT_DEFAULTS

    src = open_image(image)
    check_writable(out.parent)
    settings = EDIT_DEFAULTS.with_overrides(**flags.overrides(num_timesteps, timestep_shift, cfg_text_scale,
                                                              cfg_img_scale, cfg_interval, cfg_renorm_type,
                                                              cfg_renorm_min))
    adapter = _load(ckpt, precision, device, 1, edit_settings=settings)
    _warn_prompts(adapter, [instruction])
    with sampler_steps("edit", settings.num_timesteps - 1):
        result = adapter.edit([EditRequest(src, instruction, seed)])[0]
    save_image(result, out)
    typer.echo(str(out))


@app.command()
def caption(
    ckpt: str = typer.Option(..., "--ckpt", help=CKPT_HELP),
    image: list[Path] = typer.Option(..., "--image", help="Image to describe (repeat for several)."),
    prompt: str = typer.Option("", "--prompt", help="Question or instruction placed after the image (empty: plain caption)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Stop after this many tokens."),
    precision: str = PRECISION, device: str = DEVICE,
) -> None:
    """Greedy understanding: describe an image, or answer --prompt about it."""
    images = [open_image(p) for p in image]
    adapter = _load(ckpt, precision, device, 1)
    with spinner(f"caption {len(images)} image(s)"):
        replies = adapter.understand(images, prompt, max_new_tokens)
    for path, reply in zip(image, replies):
        typer.echo(reply if len(image) == 1 else f"{path}\t{reply}")
