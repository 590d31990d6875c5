"""`uno-train`: pre-training the tiny default, UNO post-training, ablations."""

from __future__ import annotations

from pathlib import Path

import typer

from uno_bench.cli import run_app
from uno_bench.errors import UnoError
from uno_train import outdir

app = typer.Typer(
    name="uno-train",
    help="Training for BAGEL-family models: the tiny shapes model from scratch, UNO post-training, ablations.",
    no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer's rich panels label every flag "<bool>"
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors.")) -> None:
    """Options before the command apply to every command."""


@app.command()
def pretrain(
    preset: str = typer.Option("tiny-shapes", "--preset", help="Recipe name (tiny-shapes: the embedded default)."),
    out: Path = typer.Option(..., "--out", help="Output folder: checkpoints, metrics, and the final BAGEL folder."),
    scale: float = typer.Option(1.0, "--scale", help="Shorten every phase by this factor (e.g. 0.01 for a smoke run)."),
    steps: int = typer.Option(None, "--steps", help="Override the number of model training steps."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run in OUT."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)."),
    extend: bool = typer.Option(False, "--extend", help="Continue a finished or running run in OUT to a larger "
                                "--steps (constant-rate recipes only: the same run, longer)."),
) -> None:
    """Train a model from scratch (the autoencoder, then understanding + generation together)."""
    import torch

    from uno_train.presets import PRESETS
    from uno_train.pretrain import pretrain as run

    if preset not in PRESETS:
        raise UnoError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    if scale <= 0:
        raise UnoError("--scale must be positive")
    if threads:
        torch.set_num_threads(threads)
    recipe = PRESETS[preset](scale)
    if steps is not None:
        recipe.train.steps = steps
    if extend and steps is None:
        raise UnoError("--extend needs --steps (the new, larger step count)")
    outdir.claim(out, "pretrain", outdir.plain(recipe), extend=extend)  # refused before anything is written into OUT
    with outdir.resume_errors(out):
        result = run(recipe, out, resume=resume, log=typer.echo)
    s = result["seconds"]
    typer.echo(f"done in {s['total'] / 60:.1f} min (autoencoder {s['vae'] / 60:.1f}, ViT {s.get('vit', 0) / 60:.1f}, "
               f"model {s['train'] / 60:.1f}); "
               f"held-out caption exact match {result['caption_exact_match_heldout']['exact_match']:.3f}")
    typer.echo(f"checkpoint: {out}  (uno-bench run shapes --ckpt {out})")


def _uno_config(prompt_masking: bool, see_caption: bool, target: str, caption_weight: float,
                regression_weight: float, caption_source: str, t_min: float, t_max: float, proxies=()):
    from uno_train.uno import UnoConfig

    return UnoConfig(proxies=proxies, prompt_masking=prompt_masking, metaqueries_see_caption=see_caption,
                     regression_target=target, caption_weight=caption_weight, regression_weight=regression_weight,
                     caption_source=caption_source, t_range=(t_min, t_max))


UNO_OPTIONS = dict(
    data=typer.Option("shapes", "--data", help="`shapes` (the synthetic world) or a JSONL of "
                      "{image, captions[], prompt} records (docs/training.md)."),
    steps=typer.Option(300, "--steps", help="Optimizer steps per arm (the paper: 5K on BAGEL-7B)."),
    batch_size=typer.Option(32, "--batch-size", help="Examples per step."),
    lr=typer.Option(2e-4, "--lr", help="Peak learning rate (cosine schedule, short warm-up)."),
    prompt_masking=typer.Option(True, "--prompt-masking/--no-prompt-masking",
                                help="Caption and metaquery tokens cannot see the prompt (paper: on)."),
    see_caption=typer.Option(True, "--metaqueries-see-caption/--metaqueries-blind-to-caption",
                             help="Whether metaqueries attend to the caption (open in the paper)."),
    target=typer.Option("vit", "--regression-target", help="vit (SigLIP output) | connector | und_hidden."),
    caption_weight=typer.Option(1.0, "--caption-weight", help="Weight of the caption CE (open in the paper)."),
    regression_weight=typer.Option(1.0, "--regression-weight", help="Weight of the cosine regression (open)."),
    caption_source=typer.Option("recaption", "--caption-source", help="recaption (the image's captions) | prompt."),
    t_min=typer.Option(0.0, "--t-min", help="Supervise only samples with t > T_MIN."),
    t_max=typer.Option(1.0, "--t-max", help="... and t <= T_MAX (t = 1 is pure noise)."),
    threads=typer.Option(None, "--threads", help="torch CPU threads."),
)

# Full-size runs (docs/training.md, "BAGEL-7B-MoT on 8 GPUs"); every one may also come from --config.
SCALE_OPTIONS = dict(
    precision=typer.Option("fp32", "--precision", help="fp32 | bf16 (autocast over fp32 weights)."),
    device=typer.Option("auto", "--device", help="auto (cuda when available) | cpu | cuda | cuda:N; under "
                        "torchrun each rank uses cuda:LOCAL_RANK."),
    micro_batch=typer.Option(None, "--micro-batch", help="Examples per forward on one rank (micro-batch x "
                             "grad-accum x ranks = batch size; default: the batch size over the ranks)."),
    grad_accum=typer.Option(None, "--grad-accum", help="Micro-batches accumulated per optimizer step (default: "
                            "from --micro-batch, else 1)."),
    activation_checkpointing=typer.Option(False, "--activation-checkpointing/--no-activation-checkpointing",
                                          help="Recompute decoder layers in backward (less memory, ~1/3 more compute)."),
    fsdp=typer.Option(False, "--fsdp/--no-fsdp", help="FSDP2 over all ranks under torchrun (weights, gradients, "
                      "AdamW states sharded; frozen parameters get no optimizer state)."),
    save_every=typer.Option(None, "--save-every", help="Checkpoint every N steps (default: steps / 3)."),
    attention=typer.Option("auto", "--attention", help="Packed attention: per-sample (one SDPA call per sample, "
                           "the reference) | block-diagonal (one SDPA call per layer, one [L, L] mask) | flex "
                           "(one FlexAttention call per layer; no CPU backward) | auto (the measured choice "
                           "for the device, docs/training.md). All compute the same step."),
    config=typer.Option(None, "--config", help="A TOML file of options by flag name (micro-batch = 4, "
                        "precision = \"bf16\", ...); flags given on the command line win.",
                        exists=False, dir_okay=False),
    plan=typer.Option(False, "--plan", help="Print the per-GPU memory plan (meta device, no weights read) and "
                      "exit: --ckpt may be a config name (bagel-7b) or a folder."),
    world_size=typer.Option(None, "--world-size", help="Ranks for --plan (default: torchrun's WORLD_SIZE, or 1)."),
    gpu_memory=typer.Option(80.0, "--gpu-memory", help="GiB per GPU that --plan checks the total against."),
    resolution=typer.Option(None, "--resolution", help="Image side in pixels that --plan sizes activations for "
                            "(default: what post-train renders, the model's VAE maximum capped at 512)."),
)


def _scaled(ctx: typer.Context, params: dict) -> dict:
    """The command's arguments after --config, with the batch split resolved (exit 2 when inconsistent)."""
    from uno_train.launch import apply_config_file, env_world_size, resolve_batch

    p, from_file = apply_config_file(ctx, params, params.get("config"))
    if p["precision"] not in ("fp32", "bf16"):
        raise UnoError(f"--precision must be fp32 or bf16 (got {p['precision']!r})")
    if p["save_every"] is not None and p["save_every"] < 1:
        raise UnoError("--save-every must be at least 1")
    from uno_bench.models.bagel.attention import KINDS

    if p["attention"] not in ("auto", *KINDS):
        raise UnoError(f"--attention must be auto or one of {', '.join(KINDS)} (got {p['attention']!r})")
    p["ranks"] = (p["world_size"] or env_world_size()) if p["plan"] else env_world_size()
    given = ctx.get_parameter_source("batch_size").name != "DEFAULT" or "batch_size" in from_file
    p["batch_size"], p["micro_batch"], p["grad_accum"] = resolve_batch(p["batch_size"], p["micro_batch"],
                                                                       p["grad_accum"], p["ranks"], given)
    return p


def _train_config(p: dict, seed: int):
    from dataclasses import replace

    from uno_train.post_train import default_train_config

    base = default_train_config(p["steps"], seed)
    return replace(base, batch_size=p["batch_size"], lr=p["lr"], precision=p["precision"], grad_accum=p["grad_accum"],
                   activation_checkpointing=p["activation_checkpointing"],
                   save_every=p["save_every"] or base.save_every)


def _print_plan(p: dict, uno) -> None:
    from uno_train.launch import is_main_process
    from uno_train.memory import plan, render

    result = plan(p["ckpt"], uno, p["ranks"], p["fsdp"], p["precision"],
                  p["activation_checkpointing"], p["micro_batch"], p["resolution"], p["gpu_memory"])
    if is_main_process():
        typer.echo(render(result))
        typer.echo(f"batch: {p['micro_batch']} per micro-batch x {p['grad_accum']} accumulation x "
                   f"{result.world_size} rank(s) = {p['batch_size']} examples per optimizer step")


def _launch_record(p: dict, d) -> dict:
    return {"device": str(d.device), "world_size": d.world, "fsdp": p["fsdp"], "micro_batch": p["micro_batch"],
            "attention": p["attention"], "config_file": str(p["config"]) if p["config"] else None}


@app.command("post-train")
def post_train_cmd(
    ctx: typer.Context,
    ckpt: str = typer.Option(..., "--ckpt", help="BAGEL checkpoint folder, Hugging Face repo id "
                             "OWNER/NAME[@REVISION], or `tiny` (with --plan also a config name: bagel-7b)."),
    proxy: str = typer.Option("captioning,regression", "--proxy",
                              help="Comma list of UNO proxies: captioning, regression; `none` = flow matching only."),
    out: Path = typer.Option(None, "--out", help="Output folder (a plain BAGEL checkpoint + metaqueries); "
                             "required unless --plan."),
    seed: int = typer.Option(0, "--seed"),
    data: str = UNO_OPTIONS["data"], steps: int = UNO_OPTIONS["steps"], batch_size: int = UNO_OPTIONS["batch_size"],
    lr: float = UNO_OPTIONS["lr"], prompt_masking: bool = UNO_OPTIONS["prompt_masking"],
    see_caption: bool = UNO_OPTIONS["see_caption"], target: str = UNO_OPTIONS["target"],
    caption_weight: float = UNO_OPTIONS["caption_weight"], regression_weight: float = UNO_OPTIONS["regression_weight"],
    caption_source: str = UNO_OPTIONS["caption_source"], t_min: float = UNO_OPTIONS["t_min"],
    t_max: float = UNO_OPTIONS["t_max"], threads: int = UNO_OPTIONS["threads"],
    precision: str = SCALE_OPTIONS["precision"], device: str = SCALE_OPTIONS["device"],
    micro_batch: int = SCALE_OPTIONS["micro_batch"], grad_accum: int = SCALE_OPTIONS["grad_accum"],
    activation_checkpointing: bool = SCALE_OPTIONS["activation_checkpointing"], fsdp: bool = SCALE_OPTIONS["fsdp"],
    save_every: int = SCALE_OPTIONS["save_every"], config: Path = SCALE_OPTIONS["config"],
    attention: str = SCALE_OPTIONS["attention"],
    plan: bool = SCALE_OPTIONS["plan"], world_size: int = SCALE_OPTIONS["world_size"],
    gpu_memory: float = SCALE_OPTIONS["gpu_memory"], resolution: int = SCALE_OPTIONS["resolution"],
) -> None:
    """UNO post-training: flow matching + caption CE + metaquery regression through the frozen und expert."""
    import torch

    from uno_train.launch import make_dist
    from uno_train.post_train import parse_proxies, post_train

    p = _scaled(ctx, dict(ctx.params))
    if p["threads"]:
        torch.set_num_threads(p["threads"])
    uno = _uno_config(p["prompt_masking"], p["see_caption"], p["target"], p["caption_weight"], p["regression_weight"],
                      p["caption_source"], p["t_min"], p["t_max"], parse_proxies(p["proxy"]))
    if p["plan"]:
        _print_plan(p, uno)
        return
    if p["out"] is None:
        raise UnoError("--out is required (the output folder), unless --plan")
    out = Path(p["out"])
    train = _train_config(p, p["seed"])
    d = make_dist(p["fsdp"], p["device"])
    with outdir.resume_errors(out):
        result = post_train(p["ckpt"], out, uno, train, p["data"], log=typer.echo if d.is_main else (lambda _: None),
                            dist=d, launch=_launch_record(p, d), attention=p["attention"])
    if d.is_main:
        typer.echo(f"post-trained in {result['seconds'] / 60:.1f} min -> {out}  (uno-bench run shapes --ckpt {out})")


@app.command()
def ablate(
    ctx: typer.Context,
    ckpt: str = typer.Option(..., "--ckpt", help="Starting checkpoint for every arm (`tiny` works out of the box)."),
    proxy: list[str] = typer.Option(..., "--proxy", help="One arm per use: captioning | regression | "
                                    "captioning,regression. A control arm (flow matching only) is always added."),
    suites: str = typer.Option("shapes", "--suites", help="Comma list of uno-bench suites to evaluate every arm on."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per arm (CIs pool seeds and resample prompts)."),
    name: str = typer.Option(None, "--name", help="Ablation name (default: the proxies joined)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: results/<name>)."),
    eval_limit: int = typer.Option(None, "--eval-limit", help="Evaluate only the first N prompts of each suite."),
    seed0: int = typer.Option(0, "--seed-offset", help="First seed (seeds are SEED_OFFSET ... SEED_OFFSET+SEEDS-1)."),
    data: str = UNO_OPTIONS["data"], steps: int = UNO_OPTIONS["steps"], batch_size: int = UNO_OPTIONS["batch_size"],
    lr: float = UNO_OPTIONS["lr"], prompt_masking: bool = UNO_OPTIONS["prompt_masking"],
    see_caption: bool = UNO_OPTIONS["see_caption"], target: str = UNO_OPTIONS["target"],
    caption_weight: float = UNO_OPTIONS["caption_weight"], regression_weight: float = UNO_OPTIONS["regression_weight"],
    caption_source: str = UNO_OPTIONS["caption_source"], t_min: float = UNO_OPTIONS["t_min"],
    t_max: float = UNO_OPTIONS["t_max"], threads: int = UNO_OPTIONS["threads"],
    precision: str = SCALE_OPTIONS["precision"], device: str = SCALE_OPTIONS["device"],
    micro_batch: int = SCALE_OPTIONS["micro_batch"], grad_accum: int = SCALE_OPTIONS["grad_accum"],
    activation_checkpointing: bool = SCALE_OPTIONS["activation_checkpointing"], fsdp: bool = SCALE_OPTIONS["fsdp"],
    save_every: int = SCALE_OPTIONS["save_every"], config: Path = SCALE_OPTIONS["config"],
    attention: str = SCALE_OPTIONS["attention"],
    plan: bool = SCALE_OPTIONS["plan"], world_size: int = SCALE_OPTIONS["world_size"],
    gpu_memory: float = SCALE_OPTIONS["gpu_memory"], resolution: int = SCALE_OPTIONS["resolution"],
) -> None:
    """Train a control and one arm per --proxy on identical data/steps/seeds, evaluate all, write the tables."""
    import torch

    from uno_train.ablate import ablate as run
    from uno_train.launch import make_dist
    from uno_train.post_train import parse_proxies

    p = _scaled(ctx, dict(ctx.params))
    if p["threads"]:
        torch.set_num_threads(p["threads"])
    proxy_sets = [parse_proxies(x) for x in ([p["proxy"]] if isinstance(p["proxy"], str) else p["proxy"])]
    uno = _uno_config(p["prompt_masking"], p["see_caption"], p["target"], p["caption_weight"], p["regression_weight"],
                      p["caption_source"], p["t_min"], p["t_max"])
    if p["plan"]:  # the largest arm: every proxy of every arm
        from dataclasses import replace

        _print_plan(p, replace(uno, proxies=tuple(sorted({x for ps in proxy_sets for x in ps}))))
        return
    if p["fsdp"]:
        raise UnoError("ablate trains and evaluates its arms in one process; --fsdp is for post-train (run each "
                       "arm with `torchrun ... post-train --fsdp`) and for ablate --plan")
    name = p["name"] or "uno-" + "-vs-".join("+".join(x) or "control" for x in proxy_sets)
    out = Path(p["out"]) if p["out"] else Path("results") / name
    train = _train_config(p, p["seed0"])
    d = make_dist(False, p["device"])
    with outdir.resume_errors(out):
        result = run(p["ckpt"], proxy_sets, [s.strip() for s in p["suites"].split(",") if s.strip()], p["seeds"], out,
                     train, uno, p["data"], p["eval_limit"], device=p["device"], log=typer.echo,
                     first_seed=p["seed0"], dist=d, launch=_launch_record(p, d), attention=p["attention"])
    from uno_bench.report.terminal import print_report

    print_report(result.report)
    typer.echo(f"tables: {out / 'table.md'}, {out / 'table.csv'}, {out / 'report' / 'report.html'}")


@app.command("eval-captions")
def eval_captions(
    ckpt: str = typer.Option("tiny", "--ckpt", help="A shapes-world checkpoint (`tiny`, or a pretrain/post-train OUT)."),
    n: int = typer.Option(500, "--n", help="Held-out scenes to caption."),
    seed: int = typer.Option(10_000, "--seed", help="Scene seed (training streams use seeds < 10,000)."),
    out: Path = typer.Option(None, "--out", help="Also write the result as JSON here."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads."),
) -> None:
    """Caption held-out shapes scenes greedily: exact match and per-word accuracy (count, colour, shape,
    position) against the world's canonical captions."""
    import json

    import torch

    from uno_bench.models.bagel import checkpoint
    from uno_train.evaluate import caption_accuracy

    if n <= 0:
        raise UnoError("--n must be positive")
    if threads:
        torch.set_num_threads(threads)
    result = caption_accuracy(checkpoint.load(ckpt, dtype=torch.float32), n=n, seed=seed)
    words = "  ".join(f"{k} {v:.3f}" for k, v in result["word_accuracy"].items() if v is not None)
    typer.echo(f"{n} held-out scenes: exact match {result['exact_match']:.3f}; per word: {words}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


@app.command()
def probe(
    ckpt: list[str] = typer.Option(..., "--ckpt", help="Checkpoint to probe (repeat; every further one is "
                                   "compared with the first, e.g. --ckpt CONTROL --ckpt UNO)."),
    out: Path = typer.Option(..., "--out", help="Output folder: probe.json, probe.md, probe.csv, probe.png."),
    n: int = typer.Option(400, "--n", help="Held-out scenes (seed 20,000; 75% fit the probes, 25% score them)."),
    t: str = typer.Option("0.1,0.3,0.5,0.7,0.9", "--t", help="Comma list of flow times (t = 1 is pure noise)."),
    prompt: str = typer.Option("empty", "--prompt", help="empty (features from the image alone) | caption."),
    image_size: int = typer.Option(None, "--image-size", help="Render size (default: the model's native size, "
                                   "capped at 512)."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads."),
) -> None:
    """Linear probes for colour, shape, count and position on the gen expert's hidden states of noised
    held-out images, per (layer, t), plus linear CKA with the clean image's ViT features."""
    import torch

    from uno_bench.models.bagel import checkpoint
    from uno_train import probe as p

    try:
        times = tuple(float(x) for x in t.split(",") if x.strip())
    except ValueError:
        raise UnoError(f"--t must be a comma list of numbers, got {t!r}") from None
    cfg = p.ProbeConfig(n=n, times=times, prompt=prompt, image_size=image_size)
    if threads:
        torch.set_num_threads(threads)
    for spec in ckpt:  # a wrong second --ckpt fails before the first is probed
        checkpoint.resolve_checkpoint(spec)
    dtype = torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16
    results = []
    for spec, label in zip(ckpt, p.checkpoint_labels(ckpt)):
        loaded = checkpoint.load(spec, dtype=dtype, device=device)
        results.append(p.run_probe(loaded, cfg, label, spec))
        del loaded
    paths = p.write_outputs(out, cfg, results, p.compare(results, cfg))
    for r in results:
        best = "  ".join(f"{a} {r.accuracy(a).max():.2f} (chance {r.chance[a]:.2f})" for a in p.ATTRIBUTES)
        typer.echo(f"{r.label}: best held-out accuracy  {best}")
    typer.echo("wrote " + ", ".join(str(x) for x in paths))


def main() -> None:
    run_app(app, ())


if __name__ == "__main__":  # `python -m uno_train.cli` / `torchrun -m uno_train.cli`, like uno_bench.cli
    main()
