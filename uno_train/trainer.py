"""The training loop: packing, flow matching + CE, AdamW, warm-up/schedule, grad clipping, EMA,
gradient accumulation, autocast, activation checkpointing, freezing, FSDP2, checkpoints, resume.

Determinism: every random draw of step s (which examples, dropout, VAE posterior sample, flow
times, noise) is seeded by (seed, s, micro-batch, rank), so `--resume` continues exactly the loss
curve of an uninterrupted run. A non-finite loss stops the run with a clear message; the last good
checkpoint stays.

Checkpoints: `OUT/checkpoints/step_NNNNNNN/` in the official BAGEL layout (`ema.safetensors`,
`model.safetensors`, `ae.safetensors`, configs, tokenizer) + `optimizer*.pt` + `trainer_state.json`;
each is written to a temporary folder and renamed into place, and `OUT/latest` names the newest.
At the end the inference files are also copied to OUT itself, so `uno-bench --ckpt OUT` works.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from uno_bench.errors import UnoError
from uno_bench.models.bagel import checkpoint as ckpt_io
from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_train import distributed
from uno_train.data import BadRecord, DataSource
from uno_train.freeze import freeze
from uno_train.objectives import (
    combine,
    cross_entropy,
    flow_matching_loss,
    noisy_latents,
)
from uno_train.plans import DropoutProbs, Example, Packed, TextItem, pack

INFERENCE_FILES = ("ema.safetensors", "ae.safetensors", "llm_config.json", "vit_config.json", "vae_config.json",
                   "bagel_config.json", "tokenizer.json")


class TrainingDiverged(UnoError):
    pass


@dataclass
class TrainConfig:
    steps: int
    batch_size: int  # examples per optimizer step, over all ranks and micro-batches
    lr: float = 1e-4
    min_lr: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"  # constant | cosine
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-15
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float | None = 0.9999  # None: no EMA (ema.safetensors = raw weights)
    # EMA decay min(ema_decay, (1 + s) / (10 + s)) at step s: without it a short run's EMA still
    # holds a large share of the random init (9% at step 2,400 with 0.999, measured)
    ema_warmup: bool = False
    # learning-rate multiplier of the generation side (gen expert, vae2llm, llm2vae, timestep and
    # latent-position embeddings); the schedule scales both groups alike
    gen_lr_scale: float = 1.0
    # examples of the next step rendered in a worker process while this step computes (CPU only)
    prefetch: bool = False
    timestep_shift: float = 1.0
    weights: dict[str, float] = field(default_factory=lambda: {"ce": 1.0, "mse": 1.0})
    dropout: DropoutProbs = field(default_factory=DropoutProbs)
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    grad_accum: int = 1
    activation_checkpointing: bool = False
    freeze: tuple[str, ...] = ()
    seed: int = 0
    save_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


GEN_SIDE = ("_moe_gen", "vae2llm", "llm2vae", "time_embedder", "latent_pos_embed")


def is_gen_side(name: str) -> bool:
    """Parameters that only generation tokens use (BAGEL's gen expert and its adapters)."""
    return any(part in name for part in GEN_SIDE)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))
    return cfg.lr


class Objective:
    """BAGEL's objective: flow matching on noisy latents + next-token CE. Subclasses (UNO) add
    terms, learned parameters, and their own sequence layout via `prepare`."""

    def prepare(self, example: Example) -> Example:
        return example

    def parameters(self) -> dict[str, torch.nn.Parameter]:
        return {}

    def counts(self, packed: Packed) -> dict[str, int]:
        """Tokens of each term in this micro-batch (summed over ranks for the normalisation)."""
        return {"ce": packed.count("ce"), "mse": int(packed.batch.mse_indexes.numel())}

    def forward(self, trainer: Trainer, packed: Packed, **kwargs):
        model, batch, dev = trainer.model, packed.batch.to(trainer.dist.device), trainer.dist.device
        x0, eps = packed.x0.to(dev), packed.eps.to(dev)
        t = batch.vae_timesteps
        x_t = torch.where(batch.vae_noisy[:, None], noisy_latents(x0, eps, t), x0)
        out = model(batch, latents=x_t, timesteps=t, checkpoint_layers=trainer.cfg.activation_checkpointing,
                    velocity_at=batch.mse_indexes, logits_at=batch.ce_indexes, ghost=trainer.dist.active,
                    attention=trainer.attention, **kwargs)
        return batch, x0, eps, out

    def flow_and_ce(self, packed: Packed, batch, x0: Tensor, eps: Tensor, out) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if batch.mse_indexes.numel():
            rows = torch.isin(batch.vae_indexes, batch.mse_indexes)
            terms["mse"] = flow_matching_loss(out.velocity, x0[rows], eps[rows])
        if batch.ce_indexes.numel():
            ce = cross_entropy(out.logits, batch.ce_labels)
            for term in sorted(set(packed.ce_terms)):
                terms[term] = ce[packed.ce_mask(term).to(ce.device)]
        return terms

    def __call__(self, trainer: Trainer, packed: Packed) -> dict[str, Tensor]:
        batch, x0, eps, out = self.forward(trainer, packed)
        return self.flow_and_ce(packed, batch, x0, eps, out)


def _make_example(source: DataSource, index: int):
    try:
        return source.example(index)
    except BadRecord as exc:
        return exc


# ---------------------------------------------------------------------- progress bar
# `train ━━━━━━ 57/120 loss 1.8 mse 0.239 cap 1.56 3.2k tok/s 0:31 eta 0:34`, within 80 columns.
_SHORT = {"uno_caption": "cap", "uno_regression": "reg"}
_FIXED = len("train") + len("0:00:00 eta 00:00:00") + 4 + 4  # label, time, a 4-cell bar, separators


def progress_bar(console=None, disable: bool = False, get_time=None):
    """The training bar (rich Progress): label, bar, steps, losses (`bar_info`), elapsed and a settled ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Column

    from uno_bench.runs.progress import TimeColumn

    kwargs = {"console": console} if console is not None else {}
    if get_time is not None:
        kwargs["get_time"] = get_time
    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(table_column=Column(no_wrap=True)),
                    TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True)), TimeColumn(),
                    disable=disable, **kwargs)


def info_room(width: int, steps: int) -> int:
    """Characters left for `bar_info` on a `width`-column line with a bar of `steps` steps."""
    return width - _FIXED - len(f"{steps}/{steps}")


def _num(value: float) -> str:
    return f"{value:.3g}"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value < 1e3 else f"{value / 1e3:.1f}k" if value < 1e6 else f"{value / 1e6:.1f}M"


def bar_info(rec: dict, weights: dict[str, float], room: int = 10**6) -> str:
    """The losses of one step to 3 significant digits: the total, every weighted term present (the term alone
    when it is the whole loss), and tokens per second. What does not fit in `room` characters goes first
    (tokens per second, then the total, which is the weighted sum of the terms); the terms always show.
    metrics.jsonl keeps every value at full precision."""
    keys = [k for k in weights if k in rec]
    terms = [f"{_SHORT.get(k, k)} {_num(rec[k])}" for k in keys]
    total = [] if len(keys) == 1 and weights[keys[0]] == 1.0 else [f"loss {_num(rec['loss'])}"]
    speed = [f"{_rate(rec['tokens_per_s'])} tok/s"]
    for parts in (total + terms + speed, total + terms, terms):
        info = " ".join(parts)
        if len(info) <= room:
            break
    return info


class Trainer:
    """`attention`: the packed-attention implementation (`uno_bench.models.bagel.attention.KINDS` or
    auto). Not part of `cfg`: every implementation computes the same step (equal in fp32 up to
    rounding), so, like the micro-batch, it is how a run is computed, never compared on resume."""

    def __init__(self, loaded: LoadedBagel, source: DataSource, cfg: TrainConfig, out: Path,
                 objective: Objective | None = None, dist: distributed.Dist | None = None,
                 log: Callable[[str], None] = print, attention: str = "auto"):
        from uno_bench.models.bagel.attention import packed_attention_kind

        self.loaded, self.source, self.cfg, self.out = loaded, source, cfg, Path(out)
        packed_attention_kind(attention, "cpu")  # an unknown name fails here, not at the first step
        self.attention = attention
        self.objective, self.log = objective or Objective(), log
        self.dist = dist or distributed.Dist()
        self.extra = self.objective.parameters()  # e.g. UNO metaqueries: trained, saved beside the model
        self.frozen = freeze(loaded.model, list(cfg.freeze))
        loaded.model.train()
        if loaded.codec is not None:
            loaded.codec.ae.requires_grad_(False)  # the VAE is always frozen (encoded under no_grad)
            loaded.codec.ae.eval()
        self.model = distributed.shard(loaded.model, self.dist)
        self.params = [p for p in self.model.parameters() if p.requires_grad] + list(self.extra.values())
        if not self.params:
            raise UnoError("every parameter is frozen: nothing to train")
        self.opt = torch.optim.AdamW(self._param_groups(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                     weight_decay=cfg.weight_decay)
        self._prefetcher = None
        self.ema = self._ema_init() if cfg.ema_decay is not None else None
        self.step = 0
        self.bad_records = 0
        self.history: list[dict] = []

    def _param_groups(self) -> list[dict]:
        """One group per learning-rate scale (a single group when the scale is 1: the old layout)."""
        if self.cfg.gen_lr_scale == 1.0:
            return [{"params": self.params, "lr_scale": 1.0}]
        gen = [p for n, p in self.model.named_parameters() if p.requires_grad and is_gen_side(n)]
        gen_ids = {id(p) for p in gen}
        rest = [p for p in self.params if id(p) not in gen_ids]
        return [g for g in ({"params": rest, "lr_scale": 1.0}, {"params": gen, "lr_scale": self.cfg.gen_lr_scale})
                if g["params"]]

    # ------------------------------------------------------------------ EMA
    def _trainable_named(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def _ema_init(self) -> dict[str, Tensor]:
        ema = {n: p.detach().clone().float() for n, p in self._trainable_named()}
        ema.update({f"extra.{n}": p.detach().clone().float() for n, p in self.extra.items()})
        return ema

    @torch.no_grad()
    def _ema_update(self) -> None:
        d = self.cfg.ema_decay
        if self.cfg.ema_warmup:
            d = min(d, (1 + self.step) / (10 + self.step))
        named = self._trainable_named() + [(f"extra.{n}", p) for n, p in self.extra.items()]
        for name, p in named:
            self.ema[name].lerp_(p.detach().float(), 1 - d)

    # ------------------------------------------------------------------ data
    def _examples(self, step: int) -> list[list[Example]]:
        """This rank's examples of a step, split into micro-batches. Global index i goes to rank i % world."""
        cfg, d = self.cfg, self.dist
        first = step * cfg.batch_size
        if cfg.batch_size % (d.world * cfg.grad_accum):
            raise UnoError(f"batch size {cfg.batch_size} must be a multiple of ranks x accumulation "
                           f"({d.world} x {cfg.grad_accum})")
        mine = [i for i in range(first, first + cfg.batch_size) if i % d.world == d.rank]
        micro = [mine[k :: cfg.grad_accum] for k in range(cfg.grad_accum)]
        made = self._made_examples(step, mine)
        out = []
        for indices in micro:
            batch = []
            for i in indices:
                try:
                    ex = made[i]
                    if isinstance(ex, BadRecord):
                        raise ex
                    ex.index = i
                    batch.append(self.objective.prepare(ex))
                except BadRecord as exc:
                    self.bad_records += 1
                    if self.bad_records <= 5 or self.bad_records % 100 == 0:
                        self.log(f"skipped bad record #{self.bad_records} (index {i}): {exc}")
            out.append(batch)
        return out

    def _made_examples(self, step: int, indices: list[int]) -> dict:
        """Examples (or the BadRecord each raised) of this step; with `prefetch`, the next step's
        are made meanwhile in a worker process. Examples are pure functions of their index, so
        prefetching changes nothing but the time."""
        if not self.cfg.prefetch:
            return {i: _make_example(self.source, i) for i in indices}
        from uno_train.prefetch import Prefetcher

        if self._prefetcher is None:
            self._prefetcher = Prefetcher(self.source, _make_example)
        nxt = [i + self.cfg.batch_size for i in indices] if step + 1 < self.cfg.steps else []
        return self._prefetcher.get(indices, nxt)

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict:
        cfg, d = self.cfg, self.dist
        step = self.step
        for group in self.opt.param_groups:
            group["lr"] = lr_at(step, cfg) * group.get("lr_scale", 1.0)
        packs = []
        t0 = time.perf_counter()
        for examples in self._examples(step):
            if not examples:  # every record of this micro-batch was bad: a zero-weight stand-in keeps
                examples = [Example([TextItem("", loss=True)], "empty", -1)]  # the ranks' collectives in step
            packs.append(pack(self.loaded, examples, cfg.seed, cfg.timestep_shift, cfg.dropout))
        counts: dict[str, float] = {}
        for p in packs:
            for k, v in self.objective.counts(p).items():
                counts[k] = counts.get(k, 0) + v
        counts = {k: distributed.all_reduce_sum(v, d) for k, v in sorted(counts.items())}
        tokens = distributed.all_reduce_sum(sum(p.batch.sequence_length for p in packs), d)
        self.opt.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        total = 0.0
        autocast = torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
        for packed in packs:
            with autocast:
                terms = self.objective(self, packed)
                if packed.kinds == ["empty"]:
                    terms = {k: v * 0 for k, v in terms.items()}
                loss, parts = combine(terms, cfg.weights, {k: max(1.0, v) for k, v in counts.items()}, d.world)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"non-finite loss at step {step} ({parts}); stopping. The last good checkpoint is "
                    f"{self.latest_checkpoint() or 'none (no checkpoint saved yet)'}; lower --lr or check the data.")
            loss.backward()
            total += float(loss.detach())
            for k, v in parts.items():
                logs[k] = logs.get(k, 0.0) + v
        grad_norm = distributed.clip_grad_norm(self.params, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"), d)
        grad_norm = float(distributed.full_tensor(grad_norm)) if hasattr(grad_norm, "full_tensor") else float(grad_norm)
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(f"non-finite gradient norm at step {step}; stopping (last good checkpoint: "
                                   f"{self.latest_checkpoint() or 'none'})")
        self.opt.step()
        if self.ema is not None:
            self._ema_update()
        self.step += 1
        total = distributed.all_reduce_sum(total, d) / d.world
        logs = {k: distributed.all_reduce_sum(v, d) / d.world for k, v in logs.items()}
        elapsed = time.perf_counter() - t0
        record = {"step": self.step, "loss": total, **logs, "lr": lr_at(step, cfg), "grad_norm": grad_norm,
                  "tokens": int(tokens), "tokens_per_s": tokens / elapsed if elapsed > 0 else 0.0,
                  "bad_records": self.bad_records}
        self.history.append(record)
        return record

    # ------------------------------------------------------------------ run
    def run(self, progress: bool = True) -> list[dict]:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        metrics = (self.out / "metrics.jsonl").open("a") if self.dist.is_main else None
        tb = self._tensorboard()
        show = progress and self.dist.is_main
        with progress_bar(disable=not show) as bar:
            task = bar.add_task("train", total=cfg.steps, completed=self.step, info="")
            room = info_room(bar.console.width, cfg.steps)
            while self.step < cfg.steps:
                rec = self.train_step()
                if metrics and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    metrics.write(json.dumps(rec) + "\n")
                    metrics.flush()
                    if tb is not None:
                        for k, v in rec.items():
                            tb.add_scalar(k, v, self.step)
                bar.update(task, completed=self.step, info=bar_info(rec, cfg.weights, room))
                if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                    self.save()
        if metrics:
            metrics.close()
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None
        self.export(self.out)
        return self.history

    def _tensorboard(self):
        if not self.dist.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    # ------------------------------------------------------------------ checkpoints
    def _full_states(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(raw, ema) full state dicts in the official key space (collective under FSDP)."""
        raw = {n: distributed.full_tensor(t).detach().cpu() for n, t in self.model.state_dict().items()}
        ema = dict(raw)
        if self.ema is not None:
            for n, t in self.ema.items():
                if not n.startswith("extra."):
                    ema[n] = distributed.full_tensor(t).cpu().to(raw[n].dtype)
        return raw, ema

    def _extra_states(self, use_ema: bool) -> dict[str, Tensor]:
        if use_ema and self.ema is not None:
            return {n: self.ema[f"extra.{n}"].detach().cpu() for n in self.extra}
        return {n: p.detach().cpu() for n, p in self.extra.items()}

    def latest_checkpoint(self) -> Path | None:
        link = self.out / "latest"
        return (self.out / link.read_text().strip()) if link.exists() else None

    def save(self) -> Path:
        from safetensors.torch import save_file

        raw, ema = self._full_states()
        d = self.dist
        folder = self.out / "checkpoints" / f"step_{self.step:07d}"
        opt_name = "optimizer.pt" if not d.active else f"optimizer.rank{d.rank:03d}-of-{d.world:03d}.pt"
        tmp = folder.with_name(folder.name + ".tmp")
        if d.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        distributed.barrier(d)
        torch.save(self.opt.state_dict(), tmp / opt_name)
        if d.is_main:
            ckpt_io.save(tmp, self.loaded.model, self.loaded.tokenizer, self.loaded.codec, state=ema,
                         extra_tensors=self._extra_states(True) or None)
            save_file({k: v.contiguous() for k, v in raw.items()}, str(tmp / "model.safetensors"))
            if self.extra:
                save_file({k: v.contiguous() for k, v in self._extra_states(False).items()},
                          str(tmp / "uno_extra_raw.safetensors"))
            if self.ema is not None:
                torch.save({k: v.cpu() for k, v in self.ema.items() if k.startswith("extra.")} or {},
                           tmp / "ema_extra.pt")
            state = {"step": self.step, "bad_records": self.bad_records, "world_size": d.world,
                     "config": self.cfg.to_dict(), "frozen": len(self.frozen)}
            (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
        distributed.barrier(d)
        if d.is_main:
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
            link_tmp = self.out / "latest.tmp"
            link_tmp.write_text(str(folder.relative_to(self.out)) + "\n")
            os.replace(link_tmp, self.out / "latest")
            kept = sorted((self.out / "checkpoints").glob("step_???????"))
            for old in kept[: max(0, len(kept) - self.cfg.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)
        distributed.barrier(d)
        return folder

    def export(self, target: Path) -> None:
        """Copy the newest checkpoint's inference files to `target` (a plain BAGEL folder)."""
        if not self.dist.is_main:
            return
        latest = self.latest_checkpoint()
        if latest is None:
            return
        target.mkdir(parents=True, exist_ok=True)
        for name in (*INFERENCE_FILES, "uno_extra.safetensors"):
            if (latest / name).exists():
                shutil.copy2(latest / name, target / name)

    def resume(self) -> int:
        """Continue from OUT/latest: weights, EMA, optimizer, step, counters."""
        from safetensors.torch import load_file

        latest = self.latest_checkpoint()
        if latest is None:
            raise UnoError(f"nothing to resume in {self.out} (no 'latest' checkpoint)")
        state = json.loads((latest / "trainer_state.json").read_text())
        if state["world_size"] != self.dist.world:
            raise UnoError(f"{latest} was written by {state['world_size']} ranks; resume with the same number")
        raw = load_file(str(latest / "model.safetensors"))
        ema = load_file(str(latest / "ema.safetensors"))
        self._load_full(raw)
        if self.ema is not None:
            for n in list(self.ema):
                if not n.startswith("extra."):
                    self.ema[n] = self._like(self.ema[n], ema[n].float())
            extra_ema = latest / "ema_extra.pt"
            if extra_ema.exists():
                for k, v in torch.load(extra_ema, weights_only=True).items():
                    self.ema[k] = v.float()
        if self.extra:
            extra = load_file(str(latest / "uno_extra_raw.safetensors"))
            with torch.no_grad():
                for n, p in self.extra.items():
                    p.copy_(extra[n])
        opt_name = "optimizer.pt" if not self.dist.active else \
            f"optimizer.rank{self.dist.rank:03d}-of-{self.dist.world:03d}.pt"
        self.opt.load_state_dict(torch.load(latest / opt_name, weights_only=True))
        self.step, self.bad_records = state["step"], state["bad_records"]
        return self.step

    @staticmethod
    def _like(ref: Tensor, full: Tensor) -> Tensor:
        """Shard a full tensor like `ref` (a DTensor under FSDP2), or return it."""
        if hasattr(ref, "device_mesh"):
            from torch.distributed.tensor import distribute_tensor

            return distribute_tensor(full.to(ref.device), ref.device_mesh, ref.placements)
        return full.to(ref.device)

    def _load_full(self, state: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, t in self.model.state_dict().items():
                t.copy_(self._like(t, state[name].to(t.dtype)))
