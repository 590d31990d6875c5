"""UNO: understanding-oriented post-training (arXiv 2605.05781; project page https://lzy-tony.github.io/uno).

Besides flow matching, the *frozen* understanding expert reads the *noisy* generation tokens and
supervises them. One packed sample per image, with one shared x_t, t and noise for all losses:

    [P: prompt -> und] [G: noisy latents x_t -> gen] [C: caption -> und] [Q: metaqueries -> und]

- G uses the `full` attention mode (BAGEL's `noise` would hide it from C and Q); C and Q see G,
  and with prompt masking they do *not* see P (`sees`). Whether Q sees C is configurable. No clean
  VAE or ViT copy of the target image is in the sample.
- C: cross-entropy of a caption (a re-caption of the image, not the prompt, by default) through
  the frozen und expert and LM head.
- Q: learnable metaquery embeddings, one per `metaquery_pool`^2 ViT patches of the target image
  (taken from a table indexed by grid position, initialised from the 2-D sin-cos table), whose
  final und hidden states regress — through an optional linear head — the clean image's
  understanding-side tokens (ViT output, connector output, or und hidden states at the ViT
  positions), average-pooled to the same grid, with a cosine loss. ViT/connector targets come
  from a side image that goes through the ViT only (no sequence tokens, so nothing can see it);
  und-hidden targets from an isolated extra sample with the clean ViT copy. Both come from the
  same forward and are detached (stop-gradient on the target only).
- Trained: the gen expert, gen-side projections, metaqueries and head. Frozen with
  `requires_grad=False` (never detach): und expert, embeddings, LM head, ViT, connector, VAE — so
  the caption and regression gradients reach the gen expert through the attention over G's keys
  and values, in every layer.
Every choice the paper leaves open is a field of `UnoConfig` with its default documented. Tags on the
fields: [C] shown by the authors (project page, abstract); [T] stated only by third-party summaries of the
paper's full text (e.g. https://github.com/Memory4ever/AI-System-Design, report of 2026-05-08).
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
    metaquery_pool: int = 2  # one metaquery per pool x pool ViT patches (targets average-pooled); 1 = per patch
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
                head = nn.Linear(c.llm.hidden_size, width, device=table.device)  # beside the model
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
            grid = self._pooled_grid(target.image)
            q_sees = ("G", "C") if see_caption else ("G",)
            if not masked:
                q_sees = None if see_caption else ("P", "G")
            items.append(QueryItem(grid[0] * grid[1], name="Q", sees=q_sees))
            if self.cfg.regression_target == "und_hidden":  # needs the clean copy inside the LLM, isolated
                items += [NewSample(), VitItem(target.image, name="target")]
            else:
                items.append(VitItem(target.image, side=True))
        return Example(items, "uno", example.index, example.meta)

    def _pooled_grid(self, image) -> tuple[int, int]:
        from uno_bench.models.bagel.transforms import resized_size

        cfg, k = self.model_config, self.cfg.metaquery_pool
        w, h = resized_size(image.width, image.height, cfg.vit_transform)
        h, w = h // cfg.vit.patch_size, w // cfg.vit.patch_size
        return -(-h // k), -(-w // k)

    def _pool(self, feats: Tensor, grid: tuple[int, int]) -> Tensor:
        """[h*w, C] patch features -> [ceil(h/k)*ceil(w/k), C] averages over k x k patches."""
        k = self.cfg.metaquery_pool
        if k == 1:
            return feats
        x = feats.reshape(grid[0], grid[1], -1).permute(2, 0, 1)[None]
        return F.avg_pool2d(x, k, ceil_mode=True)[0].flatten(1).T

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
    def _metaquery_inputs(self, packed: Packed) -> tuple[Tensor | None, list[tuple[Tensor, tuple]]]:
        """Embeddings for every Q slot (in sequence order) and, per UNO sample, its Q slot positions
        and where its target lives: ("side", side image index) or ("seq", target sequence positions)."""
        b = packed.batch
        if not self.regression or not b.embed_indexes.numel():
            return None, []
        table = self.params["metaqueries"]
        max_side = self.model_config.vit_max_num_patch_per_side
        pieces, pairs, side = [], [], 0
        samples = packed.named_splits
        for i, names in enumerate(samples):
            if "Q" not in names:
                continue
            qs, qn = names["Q"]
            q_pos = torch.arange(qs + 1, qs + qn - 1)
            if self.cfg.regression_target == "und_hidden":
                ts, tn = samples[i + 1]["target"]  # the isolated sample right after holds the clean ViT copy
                t_pos = torch.arange(ts + 1, ts + tn - 1)
                where = ("seq", t_pos)
            else:
                where = ("side", side)
                side += 1
            pairs.append((q_pos, where))
            gh, gw = self._grid_for(b, where)
            k = self.cfg.metaquery_pool
            rows, cols = torch.arange(-(-gh // k)), torch.arange(-(-gw // k))
            ids = (rows[:, None] * max_side + cols[None, :]).flatten()
            pieces.append(table[ids.to(table.device)])
        return torch.cat(pieces), pairs

    def _grid_for(self, b, where) -> tuple[int, int]:
        if where[0] == "side":
            return b.side_vit_grids[where[1]]
        # in-sequence target: recover its grid from the ViT position ids (row * max + col)
        rows = torch.searchsorted(b.vit_indexes, where[1])
        ids = b.vit_position_ids[rows]
        max_side = self.model_config.vit_max_num_patch_per_side
        return int(ids.max()) // max_side + 1, int(ids.max()) % max_side + 1

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
            for (q_pos, where), names in zip(pairs, [n for n in packed.named_splits if "Q" in n]):
                if names["Q"][0] not in supervised_q:
                    continue
                pred = out.hidden[q_pos.to(out.hidden.device)]
                if self.cfg.head:
                    pred = F.linear(pred.float(), self.params["head.weight"], self.params["head.bias"])
                target = self._pool(self._target(out, batch, where), self._grid_for(packed.batch, where)).detach()
                losses.append(1 - F.cosine_similarity(pred.float(), target.float(), dim=-1))
            if losses:
                terms["uno_regression"] = torch.cat(losses)
        return terms

    def _target(self, out, batch, where) -> Tensor:
        """The clean image's understanding-side tokens (stop-gradient is applied by the caller)."""
        if where[0] == "seq":
            t_pos = where[1]
            if self.cfg.regression_target == "und_hidden":
                return out.hidden[t_pos.to(out.hidden.device)]
        feats = out.side_vit_features if self.cfg.regression_target == "vit" else out.side_connector_features
        start = sum(batch.side_vit_seqlens[: where[1]])
        return feats[start : start + batch.side_vit_seqlens[where[1]]]
