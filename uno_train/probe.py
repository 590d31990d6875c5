"""Representation probe: what the generation expert's hidden states know about a noised image.

For held-out shapes scenes with known attributes, each image is VAE-encoded, noised to a fixed
flow time t (x_t = (1 - t) x0 + t eps, t = 1 is pure noise), packed as a text-to-image example and
run through the model once per t. Forward hooks on the decoder layers capture the residual stream
(layer 0 = the input embeddings, layer k = the output of decoder layer k) at the image's latent
tokens, mean-pooled per image. Linear probes (multinomial logistic regression, fixed held-out
split) then read four attributes off each (layer, t):

- colour and shape of the largest object (largest `size`; the first one in the scene on ties),
- the object count (1..4),
- the horizontal position of the largest object: "left" if its centre x < 0.5, else "right".

Mean pooling keeps the probe small and comparable across layers, but it means position is only
readable when the network writes the layout into the token *content* (which token holds an
object is pooled away).

The prompt is empty by default: with the caption in the sequence the image tokens could copy the
answer from the text through attention, and the probe would measure the prompt, not the image.
`prompt="caption"` measures that conditioned state instead.

Linear CKA compares the pooled gen features at each (layer, t) with the clean image's pooled
ViT + connector features, the model's own understanding-side view of the same image.
Two checkpoints are compared on the same scenes, split and noise: the accuracy difference per
(layer, t) with a paired bootstrap CI over held-out scenes (`uno_bench.report.stats`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from uno_bench.errors import UnoError
from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.shapes.world import Scene

ATTRIBUTES = ("color", "shape", "count", "position")
DEFAULT_TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)
SCENE_SEED = 20_000  # training streams draw scenes from seeds < 10,000 and eval-captions from 10,000
PROMPTS = ("empty", "caption")


@dataclass(frozen=True)
class ProbeConfig:
    n: int = 400  # held-out scenes
    times: tuple[float, ...] = DEFAULT_TIMES
    prompt: str = "empty"  # "empty" | "caption" (see the module docstring)
    image_size: int | None = None  # None: the model's native size, capped at 512 (as post-train renders)
    train_fraction: float = 0.75  # first 75% of the scenes fit the probes, the rest is held out
    l2: float = 1e-3  # ridge penalty on the standardised features (d can exceed the training scenes)
    batch: int = 16  # scenes per forward
    seed: int = SCENE_SEED  # scene i is sample_scene(default_rng([seed, i])); its noise is keyed by (seed, i)
    n_boot: int = 2000
    level: float = 0.95

    def __post_init__(self):
        if self.n < 8:
            raise UnoError("the probe needs at least 8 scenes (--n)")
        if not self.times or any(not 0.0 <= t <= 1.0 for t in self.times):
            raise UnoError("every t must lie in [0, 1] (t = 1 is pure noise)")
        if self.prompt not in PROMPTS:
            raise UnoError(f"unknown prompt mode {self.prompt!r} (known: {', '.join(PROMPTS)})")
        if not 0.0 < self.train_fraction < 1.0:
            raise UnoError("train_fraction must lie strictly between 0 and 1")

    @property
    def n_train(self) -> int:
        return min(max(int(round(self.n * self.train_fraction)), 2), self.n - 2)


# ----------------------------------------------------------------------------- scenes and labels


def held_out_scenes(n: int, seed: int = SCENE_SEED) -> list[Scene]:
    from uno_bench.shapes.world import sample_scene

    return [sample_scene(np.random.default_rng([seed, i])) for i in range(n)]


def scene_labels(scene: Scene) -> dict[str, str]:
    largest = max(scene.objects, key=lambda o: o.size)  # max keeps the first on ties
    return {"color": largest.color, "shape": largest.shape, "count": str(len(scene.objects)),
            "position": "left" if largest.cx < 0.5 else "right"}


def encode_labels(values: list[str]) -> tuple[np.ndarray, list[str]]:
    classes = sorted(set(values))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in values], dtype=np.int64), classes


# ----------------------------------------------------------------------------- features


@dataclass
class Features:
    gen: Tensor  # [layers + 1, T, N, hidden]: pooled image-token hidden states (layer 0 = embeddings)
    vit: Tensor | None  # [N, hidden]: pooled connector outputs of the clean image (None: no ViT)
    times: tuple[float, ...]


def default_image_size(loaded: LoadedBagel) -> int:
    return min(loaded.config.vae_transform.max_size, 512)


@torch.no_grad()
def extract_features(loaded: LoadedBagel, scenes: list[Scene], times: tuple[float, ...], image_size: int,
                     prompt: str = "empty", batch: int = 16, seed: int = SCENE_SEED,
                     advance=lambda n=1: None) -> Features:
    """Pooled hidden states of the noisy image tokens at every layer and t (see the module docstring).
    The model's numerics are untouched: hooks only read each layer's input/output."""
    from uno_bench.shapes.render import render
    from uno_bench.shapes.world import caption
    from uno_train.objectives import noisy_latents
    from uno_train.plans import DropoutProbs, Example, TextItem, VaeItem, pack

    cfg, model = loaded.config, loaded.model
    if not cfg.visual_gen or loaded.codec is None:
        raise UnoError(f"{loaded.path} has no generation expert and autoencoder to probe")
    cfg.validate_image_size(image_size, image_size)
    layers = model.language_model.model.layers
    n, dev = len(scenes), model.device
    gen = torch.zeros(len(layers) + 1, len(times), n, cfg.llm.hidden_size)
    vit = torch.zeros(n, cfg.llm.hidden_size) if cfg.visual_und else None
    captured: list[Tensor] = []
    hooks = [layers[0].register_forward_pre_hook(lambda m, args: captured.append(args[0]))]
    hooks += [layer.register_forward_hook(lambda m, args, out: captured.append(out)) for layer in layers]
    try:
        for start in range(0, n, batch):
            chunk = scenes[start:start + batch]
            images = [render(s, image_size) for s in chunk]
            examples = [Example([TextItem(caption(s) if prompt == "caption" else ""), VaeItem(im, noisy=True)],
                                "probe", index=start + j) for j, (s, im) in enumerate(zip(chunk, images))]
            # Noise is keyed by (seed, scene index): the same eps for every t and every checkpoint (paired).
            packed = pack(loaded, examples, seed=seed, dropout=DropoutProbs(0.0, 0.0, 0.0))
            b = packed.batch.to(dev)
            x0, eps = packed.x0.to(dev), packed.eps.to(dev)
            for ti, t in enumerate(times):
                tt = torch.full((x0.shape[0],), float(t), device=dev)
                captured.clear()
                model(b, latents=noisy_latents(x0, eps, tt), timesteps=tt)
                for li, h in enumerate(captured):
                    parts = h[b.vae_indexes].float().split(b.vae_image_lens)
                    gen[li, ti, start:start + len(chunk)] = torch.stack([p.mean(0) for p in parts]).cpu()
                advance(1)
            if vit is not None:
                vit[start:start + len(chunk)] = _vit_pooled(loaded, images)
    finally:
        for hook in hooks:
            hook.remove()
    return Features(gen, vit, tuple(times))


def _vit_pooled(loaded: LoadedBagel, images) -> Tensor:
    """Mean connector output (LLM space, before the position table) of each clean image."""
    from uno_bench.models.bagel.model import grid_position_ids
    from uno_bench.models.bagel.transforms import vit_inputs

    cfg, model = loaded.config, loaded.model
    p = cfg.vit.patch_size
    inputs = [vit_inputs(im, cfg.vit_transform, p) for im in images]
    pos = torch.cat([grid_position_ids(g[0] * p, g[1] * p, p, cfg.vit_max_num_patch_per_side) for _, g in inputs])
    lens = [x.shape[0] for x, _ in inputs]
    feats = model.connector(model.vit_model(torch.cat([x for x, _ in inputs]).to(model.device), pos.to(model.device),
                                            lens))
    return torch.stack([f.float().mean(0) for f in feats.split(lens)]).cpu()


# ----------------------------------------------------------------------------- probes and CKA


def fit_probe(x_train: Tensor, y_train: np.ndarray, x_test: Tensor, l2: float = 1e-3, max_iter: int = 300) -> np.ndarray:
    """Multinomial logistic regression on standardised features (train statistics), L-BFGS from zero:
    deterministic. x_train [n, d] (or [C, n, d]: C independent probes on the same labels, fit in one
    go because the summed loss is separable). Returns the predicted class of every test row ([m] or [C, m])."""
    single = x_train.dim() == 2
    x_train, x_test = (x_train[None], x_test[None]) if single else (x_train, x_test)
    x_train, x_test = x_train.double(), x_test.double()
    mean, std = x_train.mean(1, keepdim=True), x_train.std(1, keepdim=True) + 1e-6  # the ridge then treats dims alike
    a, z = (x_train - mean) / std, (x_test - mean) / std
    y = torch.as_tensor(y_train, dtype=torch.long)
    c, k = a.shape[0], int(y.max()) + 1
    w = torch.zeros(c, a.shape[2], k, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(c, 1, k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = (a @ w + bias).reshape(-1, k)
        loss = torch.nn.functional.cross_entropy(logits, y.repeat(c), reduction="sum") / len(y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        pred = (z @ w + bias).argmax(2).numpy()
    return pred[0] if single else pred


def majority_rate(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Chance: the held-out accuracy of always answering the training split's most common class."""
    return float(np.mean(y_test == np.bincount(y_train).argmax()))


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA (Kornblith et al. 2019) between two sets of features of the same n items, via the
    centred Gram matrices (n x n: cheap when the feature sizes exceed n)."""
    x, y = x.double() - x.double().mean(0), y.double() - y.double().mean(0)
    k, m = x @ x.T, y @ y.T
    denom = torch.linalg.norm(k) * torch.linalg.norm(m)
    return float((k * m).sum() / denom) if denom > 0 else float("nan")


@dataclass
class CheckpointProbe:
    label: str
    spec: str
    identity: dict
    layers: int  # rows: 0 = embeddings, then each decoder layer
    times: tuple[float, ...]
    classes: dict[str, list[str]]
    chance: dict[str, float]
    correct: dict[str, np.ndarray] = field(repr=False)  # attr -> [layers, T, n_test] bool
    cka: np.ndarray | None = None  # [layers, T]

    def accuracy(self, attr: str) -> np.ndarray:
        return self.correct[attr].mean(axis=2)


def probe_features(features: Features, scenes: list[Scene], cfg: ProbeConfig, label: str = "", spec: str = "",
                   identity: dict | None = None, advance=lambda n=1: None) -> CheckpointProbe:
    labels = [scene_labels(s) for s in scenes]
    split = cfg.n_train
    layers, times = features.gen.shape[0], features.times
    correct, chance, classes = {}, {}, {}
    for attr in ATTRIBUTES:
        y, classes[attr] = encode_labels([lab[attr] for lab in labels])
        chance[attr] = majority_rate(y[:split], y[split:])
        x = features.gen.reshape(layers * len(times), *features.gen.shape[2:])  # every (layer, t) at once
        pred = fit_probe(x[:, :split], y[:split], x[:, split:], cfg.l2)
        correct[attr] = (pred == y[split:]).reshape(layers, len(times), -1)
        advance(1)
    cka = None
    if features.vit is not None:
        cka = np.array([[linear_cka(features.gen[li, ti], features.vit) for ti in range(len(times))]
                        for li in range(layers)])
    return CheckpointProbe(label, spec, identity or {}, layers, tuple(times), classes, chance, correct, cka)


def run_probe(loaded: LoadedBagel, cfg: ProbeConfig, label: str, spec: str, progress: bool = True) -> CheckpointProbe:
    from uno_bench.runs.progress import progress as bar

    scenes = held_out_scenes(cfg.n, cfg.seed)
    size = cfg.image_size or default_image_size(loaded)
    batches = -(-cfg.n // cfg.batch)
    with bar(f"{label}: features", batches * len(cfg.times), progress) as advance:
        feats = extract_features(loaded, scenes, cfg.times, size, cfg.prompt, cfg.batch, cfg.seed, advance)
    with bar(f"{label}: probes", len(ATTRIBUTES), progress) as advance:
        return probe_features(feats, scenes, cfg, label, spec, loaded.identity, advance)


# ----------------------------------------------------------------------------- differences


def cell_name(layer: int, t: float) -> str:
    return f"L{layer}@t{t:g}"


def difference(base: CheckpointProbe, other: CheckpointProbe, attr: str, n_boot: int = 2000, seed: int = 0,
               level: float = 0.95) -> dict[str, dict]:
    """(other - base) held-out accuracy per (layer, t) with a paired bootstrap CI over held-out scenes:
    every cell is a category of one design whose prompts are the scenes, so all cells share the
    resampling weights and scene difficulty cancels (`stats.paired_bootstrap`)."""
    from uno_bench.report.scoring import SampleScore
    from uno_bench.report.stats import make_design, paired_bootstrap

    if base.correct[attr].shape != other.correct[attr].shape or base.times != other.times:
        raise UnoError(f"{base.label} and {other.label} were probed on different layers, times or scenes")
    layers, times = base.layers, base.times
    cells = [cell_name(li, t) for li in range(layers) for t in times]

    def design(p: CheckpointProbe):
        hits = p.correct[attr].reshape(len(cells), -1)  # [cells, n_test]
        scores = [SampleScore(key=f"{j}/0", prompt_id=str(j), index=0, category="probe",
                              score=float(hits[:, j].mean()), parts={c: float(h) for c, h in zip(cells, hits[:, j])})
                  for j in range(hits.shape[1])]
        return make_design(scores, cells, "category_means")

    boot = paired_bootstrap(design(base), design(other), n_boot=n_boot, seed=seed, level=level)
    return {c: asdict(boot.categories[c]) for c in cells}


# ----------------------------------------------------------------------------- outputs


def _times_header(times) -> str:
    return "| layer | " + " | ".join(f"t={t:g}" for t in times) + " |\n|---|" + "---|" * len(times) + "\n"


def _layer_name(li: int) -> str:
    return "emb" if li == 0 else str(li)


def to_json(cfg: ProbeConfig, probes: list[CheckpointProbe], diffs: list[dict]) -> dict:
    return {
        "config": {**asdict(cfg), "n_train": cfg.n_train, "n_test": cfg.n - cfg.n_train},
        "layers": "row 0 = input embeddings of the image tokens; row k = output of decoder layer k",
        "labels": "colour/shape/position(left|right of x=0.5) of the largest object; count of objects",
        "checkpoints": [{
            "label": p.label, "spec": p.spec, "identity": p.identity, "classes": p.classes, "chance": p.chance,
            "accuracy": {a: p.accuracy(a).round(4).tolist() for a in ATTRIBUTES},
            "cka_vit": None if p.cka is None else p.cka.round(4).tolist(),
        } for p in probes],
        "differences": diffs,
    }


def write_outputs(out: Path, cfg: ProbeConfig, probes: list[CheckpointProbe], diffs: list[dict]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = to_json(cfg, probes, diffs)
    paths = [out / "probe.json", out / "probe.csv", out / "probe.md", out / "probe.png"]
    paths[0].write_text(json.dumps(data, indent=1) + "\n")
    _write_csv(paths[1], probes, diffs)
    paths[2].write_text(_markdown(cfg, probes, diffs))
    _plot(paths[3], probes, diffs)
    return paths


def _write_csv(path: Path, probes: list[CheckpointProbe], diffs: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "checkpoint", "attribute", "layer", "t", "value", "low", "high", "chance"])
        for p in probes:
            for a in ATTRIBUTES:
                acc = p.accuracy(a)
                for li in range(p.layers):
                    for ti, t in enumerate(p.times):
                        w.writerow(["accuracy", p.label, a, li, t, f"{acc[li, ti]:.4f}", "", "", f"{p.chance[a]:.4f}"])
            if p.cka is not None:
                for li in range(p.layers):
                    for ti, t in enumerate(p.times):
                        w.writerow(["cka_vit", p.label, "", li, t, f"{p.cka[li, ti]:.4f}", "", "", ""])
        for d in diffs:
            for a in ATTRIBUTES:
                for li in range(d["layers"]):
                    for t in d["times"]:
                        c = d["attributes"][a][cell_name(li, t)]
                        w.writerow(["difference", f"{d['other']} - {d['base']}", a, li, t,
                                    *(("" if c[k] is None else f"{c[k]:.4f}") for k in ("value", "low", "high")), ""])


def _markdown(cfg: ProbeConfig, probes: list[CheckpointProbe], diffs: list[dict]) -> str:
    lines = [f"# Representation probe\n\n{cfg.n} held-out shapes scenes (seed {cfg.seed}), probes fit on "
             f"{cfg.n_train} and scored on {cfg.n - cfg.n_train}; prompt: {cfg.prompt}. Rows: layer (emb = input "
             "embeddings of the image tokens); columns: flow time t (1 = pure noise). Cells: held-out accuracy of a "
             "linear probe on the mean-pooled image tokens.\n"]
    for p in probes:
        lines.append(f"\n## {p.label}\n")
        for a in ATTRIBUTES:
            acc = p.accuracy(a)
            lines.append(f"\n**{a}** (chance {p.chance[a]:.3f}, {len(p.classes[a])} classes)\n\n" + _times_header(p.times))
            lines += [f"| {_layer_name(li)} | " + " | ".join(f"{v:.3f}" for v in acc[li]) + " |\n"
                      for li in range(p.layers)]
        if p.cka is not None:
            lines.append("\n**linear CKA with the clean image's ViT+connector features**\n\n" + _times_header(p.times))
            lines += [f"| {_layer_name(li)} | " + " | ".join(f"{v:.3f}" for v in p.cka[li]) + " |\n"
                      for li in range(p.layers)]
    for d in diffs:
        pct = int(round(100 * cfg.level))
        lines.append(f"\n## {d['other']} - {d['base']} (accuracy difference, paired bootstrap {pct}% CI over "
                     f"held-out scenes; * = CI excludes 0)\n")
        for a in ATTRIBUTES:
            lines.append(f"\n**{a}**\n\n" + _times_header(d["times"]))
            for li in range(d["layers"]):
                cells = [d["attributes"][a][cell_name(li, t)] for t in d["times"]]
                lines.append(f"| {_layer_name(li)} | " + " | ".join(_ci_cell(c) for c in cells) + " |\n")
    return "".join(lines)


def _ci_cell(c: dict) -> str:
    if c["value"] is None:
        return "n/a"
    if c["low"] is None:
        return f"{c['value']:+.3f}"
    star = "*" if c["low"] > 0 or c["high"] < 0 else ""
    return f"{c['value']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]{star}"


def _plot(path: Path, probes: list[CheckpointProbe], diffs: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = [*ATTRIBUTES, "CKA (ViT)"]
    rows = len(probes) + len(diffs)
    fig, axes = plt.subplots(rows, len(cols), figsize=(2.4 * len(cols), 2.2 * rows + 0.4), squeeze=False)
    times = probes[0].times
    layers = probes[0].layers

    def draw(ax, grid, title, vmin, vmax, cmap, marks=None):
        im = ax.imshow(grid, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap=cmap)
        ax.set_title(title, fontsize=8)
        ax.set_xticks(range(len(times)), [f"{t:g}" for t in times], fontsize=6)
        ax.set_yticks(range(layers), [_layer_name(li) for li in range(layers)], fontsize=6)
        if marks is not None:
            ys, xs = np.nonzero(marks)
            ax.scatter(xs, ys, marker="*", s=12, c="k")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)

    for r, p in enumerate(probes):
        for c, a in enumerate(ATTRIBUTES):
            draw(axes[r, c], p.accuracy(a), f"{p.label}: {a} (chance {p.chance[a]:.2f})", 0, 1, "viridis")
        if p.cka is not None:
            draw(axes[r, -1], p.cka, f"{p.label}: CKA", 0, 1, "magma")
        else:
            axes[r, -1].axis("off")
    for r, d in enumerate(diffs, start=len(probes)):
        for c, a in enumerate(ATTRIBUTES):
            cells = [[d["attributes"][a][cell_name(li, t)] for t in times] for li in range(layers)]
            grid = np.array([[np.nan if x["value"] is None else x["value"] for x in row] for row in cells])
            sig = np.array([[x["low"] is not None and (x["low"] > 0 or x["high"] < 0) for x in row] for row in cells])
            lim = max(float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.0, 0.05)
            draw(axes[r, c], grid, f"{d['other']} - {d['base']}: {a}", -lim, lim, "RdBu", sig)
        axes[r, -1].axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("layer", fontsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("t (1 = noise)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def compare(probes: list[CheckpointProbe], cfg: ProbeConfig) -> list[dict]:
    """Every further checkpoint against the first (e.g. --ckpt CONTROL --ckpt UNO)."""
    base = probes[0]
    return [{"base": base.label, "other": p.label, "layers": base.layers, "times": list(base.times),
             "n_test": cfg.n - cfg.n_train, "n_boot": cfg.n_boot, "level": cfg.level,
             "attributes": {a: difference(base, p, a, cfg.n_boot, 0, cfg.level) for a in ATTRIBUTES}}
            for p in probes[1:]]


def checkpoint_labels(specs: list[str]) -> list[str]:
    """Short labels (folder names), made unique with a #k suffix where two collide."""
    names = [Path(s).name or s for s in specs]
    return [f"{nm}#{i + 1}" if names.count(nm) > 1 else nm for i, nm in enumerate(names)]
