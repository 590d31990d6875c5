"""UNO: understanding-oriented post-training (arXiv 2605.05781; reference: uno-method.md).

Besides flow matching, the *frozen* understanding expert reads the *noisy* generation tokens and
supervises them. One packed sample per image, with one shared x_t, t and noise for all losses:

    [P: prompt -> und] [G: noisy latents x_t -> gen] [C: caption -> und] [Q: metaqueries -> und]

- G uses the `full` attention mode (BAGEL's `noise` would hide it from C and Q); C and Q see G,
  and with prompt masking they do *not* see P (`sees`). Whether Q sees C is configurable. No clean
  VAE or ViT copy of the target image is in the sample.
- C: cross-entropy of a caption (a re-caption of the image, not the prompt, by default) through
  the frozen und expert and LM head.
- Q: learnable metaquery embeddings, one per ViT patch of the target image (taken from a table
  indexed by the patch's grid position, initialised from the 2-D sin-cos table), whose final und
  hidden states regress — through an optional linear head — the clean image's understanding-side
  tokens (ViT output, connector output, or und hidden states at the ViT positions) with a cosine
  loss. The targets come from an isolated extra sample holding the clean image's ViT copy, in the
  same forward, and are detached (stop-gradient on the target only).
- Trained: the gen expert, gen-side projections, metaqueries and head. Frozen with
  `requires_grad=False` (never detach): und expert, embeddings, LM head, ViT, connector, VAE — so
  the caption and regression gradients reach the gen expert through the attention over G's keys
  and values, in every layer.
Every choice the paper leaves open is a field of `UnoConfig` with its default documented.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from uno_bench.errors import UnoError
from uno_train.plans import Example, NewSample, Packed, QueryItem, SkipItem, TextItem, VaeItem, VitItem
from uno_train.trainer import Objective, Trainer

PROXIES = ("captioning", "regression")
TARGETS = ("vit", "connector", "und_hidden")


@dataclass(frozen=True)
class UnoConfig:
    proxies: tuple[str, ...] = PROXIES  # empty: the flow-matching-only control
    caption_weight: float = 1.0  # unknown in the paper; CE is normalised per caption token
    regression_weight: float = 1.0  # unknown in the paper; cosine loss per metaquery
    prompt_masking: bool = True  # caption/metaquery tokens cannot see the prompt [C]/[T]
    metaqueries_see_caption: bool = True  # open question: do metaqueries read the caption?
    regression_target: str = "vit"  # "visual-encoder features" [T]: SigLIP output; or connector / und_hidden
    head: bool = True  # linear head from the LLM width to the target width (needed when they differ)
    caption_source: str = "recaption"  # recaption: one of the image's captions [T]; prompt: the prompt itself
    t_range: tuple[float, float] = (0.0, 1.0)  # supervise samples with t in (lo, hi] (default: every t)
    freeze: tuple[str, ...] = ("understanding",)  # und expert, embeddings, LM head, ViT, connector

    def __post_init__(self):
        bad = set(self.proxies) - set(PROXIES)
        if bad:
            raise UnoError(f"unknown proxy {sorted(bad)} (known: {', '.join(PROXIES)})")
        if self.regression_target not in TARGETS:
            raise UnoError(f"unknown regression target {self.regression_target!r} (known: {', '.join(TARGETS)})")
        if self.caption_source not in ("recaption", "prompt"):
            raise UnoError("caption_source must be 'recaption' or 'prompt'")

    @property
    def weights(self) -> dict[str, float]:
        return {"uno_caption": self.caption_weight, "uno_regression": self.regression_weight}


class UnoObjective(Objective):
    def __init__(self, cfg: UnoConfig, model):
        self.cfg = cfg
        self.captioning = "captioning" in cfg.proxies
        self.regression = "regression" in cfg.proxies
        c = self.model_config = model.config
        self.params: dict[str, nn.Parameter] = {}
        if self.regression:
            with torch.no_grad():
                table = model.vit_pos_embed.pos_embed.detach().float().clone()  # spatial identity to start
            self.params["metaqueries"] = nn.Parameter(table)
            if cfg.head:
                width = c.vit.hidden_size if cfg.regression_target == "vit" else c.llm.hidden_size
                head = nn.Linear(c.llm.hidden_size, width)
                self.params["head.weight"] = head.weight
                self.params["head.bias"] = head.bias
            elif cfg.regression_target == "vit" and c.vit.hidden_size != c.llm.hidden_size:
                raise UnoError("regressing ViT features needs the head (their width differs from the LLM's)")

    # ---------------------------------------------------------------- layout
    def prepare(self, example: Example) -> Example:
        """A text-to-image example -> the UNO layout. Other examples pass through unchanged."""
        prompts = [it for it in example.items if isinstance(it, TextItem) and not it.loss]
        targets = [it for it in example.items if isinstance(it, VaeItem) and it.noisy]
        if len(prompts) != 1 or len(targets) != 1 or not (self.captioning or self.regression):
            return example
        prompt, target = prompts[0], targets[0]
        captions = example.meta.get("captions") or []
        if self.cfg.caption_source == "prompt" or not captions:
            captions = [prompt.text]
        items = [
            TextItem(prompt.text, enable_cfg=prompt.enable_cfg, name="P"),
            VaeItem(target.image, noisy=True, mode="full", name="G"),
            SkipItem(1),  # after a noisy image RoPE does not advance; the caption must not share its position
        ]
        masked, see_caption = self.cfg.prompt_masking, self.cfg.metaqueries_see_caption
        if self.captioning:
            caption = captions[example.index % len(captions)]
            items.append(TextItem(caption, loss=True, term="uno_caption", name="C", sees=("G",) if masked else None))
        if self.regression:
            grid = self._target_grid(target.image)
            q_sees = ("G", "C") if see_caption else ("G",)
            if not masked:
                q_sees = None if see_caption else ("P", "G")
            items += [QueryItem(grid[0] * grid[1], name="Q", sees=q_sees), NewSample(),
                      VitItem(target.image, name="target")]
        return Example(items, "uno", example.index, example.meta)

    def _target_grid(self, image) -> tuple[int, int]:
        from uno_bench.models.bagel.transforms import resized_size

        cfg = self.model_config
        w, h = resized_size(image.width, image.height, cfg.vit_transform)
        return h // cfg.vit.patch_size, w // cfg.vit.patch_size

    def parameters(self) -> dict[str, nn.Parameter]:
        return self.params

    # ---------------------------------------------------------------- which tokens carry UNO losses
    def _supervised(self, packed: Packed) -> list[dict[str, tuple[int, int]]]:
        """Named splits of the UNO samples whose flow time lies in `t_range`."""
        lo, hi = self.cfg.t_range
        b = packed.batch
        out = []
        for names in packed.named_splits:
            if "G" not in names:
                continue
            start = names["G"][0] + 1  # first latent token (after <|vision_start|>)
            row = int(torch.searchsorted(b.vae_indexes, torch.tensor(start)))
            t = float(b.vae_timesteps[row])
            if lo < t <= hi:
                out.append(names)
        return out

    def counts(self, packed: Packed) -> dict[str, int]:
        counts = super().counts(packed)
        counts.pop("uno_caption", None)
        sup = self._supervised(packed)
        if self.captioning:
            counts["uno_caption"] = int(self._caption_rows(packed, sup).sum())
        if self.regression:
            counts["uno_regression"] = sum(n["Q"][1] - 2 for n in sup if "Q" in n)
        return counts

    def _caption_rows(self, packed: Packed, sup) -> Tensor:
        """Boolean over CE positions: UNO caption tokens of supervised samples."""
        pos = packed.batch.ce_indexes
        keep = torch.zeros(pos.shape[0], dtype=torch.bool)
        is_caption = packed.ce_mask("uno_caption")
        for names in sup:
            if "C" in names:
                s, n = names["C"]
                keep |= is_caption & (pos >= s) & (pos < s + n)
        return keep

    # ---------------------------------------------------------------- losses
    def _metaquery_inputs(self, packed: Packed) -> tuple[Tensor | None, list[tuple[Tensor, Tensor]]]:
        """Embeddings for every Q slot (in sequence order) and, per UNO sample, (Q slot positions,
        target sequence positions)."""
        b = packed.batch
        if not self.regression or not b.embed_indexes.numel():
            return None, []
        pieces, pairs = [], []
        samples = packed.named_splits
        for i, names in enumerate(samples):
            if "Q" not in names:
                continue
            qs, qn = names["Q"]
            ts, tn = samples[i + 1]["target"]  # the isolated sample right after holds the clean ViT copy
            q_pos = torch.arange(qs + 1, qs + qn - 1)
            t_pos = torch.arange(ts + 1, ts + tn - 1)
            vit_rows = torch.searchsorted(b.vit_indexes, t_pos)
            grid_ids = b.vit_position_ids[vit_rows]
            pieces.append(self.params["metaqueries"][grid_ids.to(self.params["metaqueries"].device)])
            pairs.append((q_pos, t_pos))
        return torch.cat(pieces), pairs

    def __call__(self, trainer: Trainer, packed: Packed) -> dict[str, Tensor]:
        embeddings, pairs = self._metaquery_inputs(packed)
        batch, x0, eps, out = self.forward(trainer, packed, embeddings=embeddings,
                                           return_vit_features=bool(pairs))
        terms = self.flow_and_ce(packed, batch, x0, eps, out)
        sup = self._supervised(packed)
        if self.captioning and "uno_caption" in terms:
            keep = self._caption_rows(packed, sup)[packed.ce_mask("uno_caption")]
            terms["uno_caption"] = terms["uno_caption"][keep.to(terms["uno_caption"].device)]
        if pairs:
            supervised_q = {n["Q"][0] for n in sup if "Q" in n}
            losses = []
            for (q_pos, t_pos), names in zip(pairs, [n for n in packed.named_splits if "Q" in n]):
                if names["Q"][0] not in supervised_q:
                    continue
                pred = out.hidden[q_pos.to(out.hidden.device)]
                if self.cfg.head:
                    pred = F.linear(pred.float(), self.params["head.weight"], self.params["head.bias"])
                target = self._target(out, batch, t_pos).detach()  # stop-gradient on the target only
                losses.append(1 - F.cosine_similarity(pred.float(), target.float(), dim=-1))
            if losses:
                terms["uno_regression"] = torch.cat(losses)
        return terms

    def _target(self, out, batch, t_pos: Tensor) -> Tensor:
        dev = out.hidden.device
        if self.cfg.regression_target == "und_hidden":
            return out.hidden[t_pos.to(dev)]
        rows = torch.searchsorted(batch.vit_indexes, t_pos.to(batch.vit_indexes.device))
        feats = out.vit_features if self.cfg.regression_target == "vit" else out.connector_features
        return feats[rows.to(feats.device)]
