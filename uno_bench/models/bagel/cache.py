"""KV caches for inference, and the `Attention` callables that use them.

- `SequenceCache`: one sequence's K/V per layer (post QK-norm, post RoPE, as upstream's NaiveCache),
  preallocated and grown geometrically, so appending a token never re-copies the whole cache
  (upstream concatenates old + new into a fresh tensor on every update).
- `PrefillAttention`: adds new tokens to a cache; causal prefill is bottom-right aligned (new
  tokens see every cached token), full prefill lets the block see itself entirely.
- `BranchBatch` + `BatchedQueryAttention`: many (image, CFG branch) rows attend, in one call, to
  their own cached context (a prefix of some cache) plus their own query block. The contexts are
  copied once per generation into one padded buffer; each step writes only the query block's K/V.
- `QueryRows`: the same attention for a compiled step, writing into nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from uno_bench.models.bagel.attention import expand_kv, sdpa
from uno_bench.models.bagel.model import Attention


class SequenceCache:
    def __init__(self, num_layers: int, kv_heads: int, head_dim: int, device: torch.device,
                 dtype: torch.dtype, capacity: int = 64):
        self.num_layers, self.kv_heads, self.head_dim = num_layers, kv_heads, head_dim
        self.device, self.dtype = device, dtype
        self.k = [torch.empty(capacity, kv_heads, head_dim, device=device, dtype=dtype) for _ in range(num_layers)]
        self.v = [torch.empty_like(t) for t in self.k]
        self.length = 0  # tokens committed
        self.rope = 0  # next RoPE position

    @classmethod
    def for_model(cls, model, capacity: int = 64) -> SequenceCache:
        c = model.config.llm
        return cls(c.num_hidden_layers, c.num_key_value_heads, c.head_dim, model.device, model.dtype, capacity)

    def reserve(self, extra: int) -> None:
        need = self.length + extra
        cap = self.k[0].shape[0]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap)
        for i in range(self.num_layers):
            for store in (self.k, self.v):
                grown = torch.empty(new_cap, self.kv_heads, self.head_dim, device=store[i].device, dtype=self.dtype)
                grown[: self.length] = store[i][: self.length]
                store[i] = grown

    def keys(self, layer: int, length: int | None = None) -> tuple[Tensor, Tensor]:
        n = self.length if length is None else length
        return self.k[layer][:n], self.v[layer][:n]


class PrefillAttention:
    """Append `n` new tokens to `cache` (call `commit` after the forward)."""

    def __init__(self, cache: SequenceCache, n: int, causal: bool):
        cache.reserve(n)
        self.cache, self.n, self.causal = cache, n, causal

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        c, start = self.cache, self.cache.length
        c.k[layer][start : start + self.n] = k.to(c.dtype)
        c.v[layer][start : start + self.n] = v.to(c.dtype)
        keys, values = c.keys(layer, start + self.n)
        groups = q.shape[1] // k.shape[1]
        mask = None
        if self.causal:  # bottom-right aligned: query j sees keys [0, start + j]
            cols = torch.arange(start + self.n, device=q.device)
            rows = torch.arange(self.n, device=q.device) + start
            mask = cols[None, :] <= rows[:, None]
        out = F.scaled_dot_product_attention(
            q.transpose(0, 1), expand_kv(keys, groups, 1).transpose(0, 1).to(q.dtype),
            expand_kv(values, groups, 1).transpose(0, 1).to(q.dtype), attn_mask=mask,
        )
        return out.transpose(0, 1)

    def commit(self, advance_rope: int) -> None:
        self.cache.length += self.n
        self.cache.rope += advance_rope


@dataclass(frozen=True)
class Branch:
    """One row of a batched denoising step: attend to cache[:length], place the query at `rope`."""

    cache: SequenceCache
    length: int
    rope: int


class BatchedQueryAttention:
    """S rows, each = its own context (a cache prefix) + its own block of `q_len` query tokens.

    Built once per generation; `rows(s)` restricts a step to the first s rows (branches are ordered
    so that the rows active at any step form a prefix), which keeps every step copy-free."""

    def __init__(self, branches: list[Branch], q_len: int, context_multiple: int = 1, query_slots: bool = True):
        """`context_multiple`: contexts padded (masked) up to a multiple, so that contexts of other
        lengths give the same shapes; `query_slots=False`: no room for the query block (`QueryRows`)."""
        first = branches[0].cache
        self.q_len, self.num_rows = q_len, len(branches)
        self.ctx_len = -(-max(b.length for b in branches) // context_multiple) * context_multiple
        total = self.ctx_len + q_len
        device = first.device
        self.k, self.v = [], []
        for layer in range(first.num_layers):
            size = total if query_slots else self.ctx_len
            kb = torch.zeros(len(branches), size, first.kv_heads, first.head_dim, device=device, dtype=first.dtype)
            vb = torch.zeros_like(kb)
            for s, b in enumerate(branches):
                kb[s, : b.length], vb[s, : b.length] = b.cache.keys(layer, b.length)
            self.k.append(kb)
            self.v.append(vb)
        lengths = torch.tensor([b.length for b in branches], device=device)
        pos = torch.arange(total, device=device)
        valid = (pos[None, :] < lengths[:, None]) | (pos[None, :] >= self.ctx_len)
        self.mask = None if bool(valid.all()) else valid[:, None, None, :]  # [S, 1, 1, total]

    def rows(self, s: int) -> Attention:
        """The attention of a step whose active rows are the first s."""
        return partial(self.attend_rows, s)

    def attend_rows(self, s: int, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        n, heads, d = self.q_len, q.shape[1], q.shape[2]
        kb, vb = self.k[layer], self.v[layer]
        kb[:s, self.ctx_len :] = k.view(s, n, -1, d).to(kb.dtype)
        vb[:s, self.ctx_len :] = v.view(s, n, -1, d).to(vb.dtype)
        keys = kb[:s].transpose(1, 2).to(q.dtype)  # [s, KV, T, D]
        values = vb[:s].transpose(1, 2).to(q.dtype)
        mask = None if self.mask is None else self.mask[:s]
        out = sdpa(q.view(s, n, heads, d).transpose(1, 2), keys, values, mask)
        return out.transpose(1, 2).reshape(s * n, heads, d)


class QueryRows:
    """`BatchedQueryAttention` (built without query slots) over its first `rows` rows that mutates
    nothing: each layer joins the fixed contexts and this step's query K/V by concatenation. A
    compiled step then has no mutated input (CUDA graphs refuse those); the extra copy of the
    context is small next to the step's matmuls."""

    def __init__(self, batched: BatchedQueryAttention, rows: int):
        self.batched, self.rows = batched, rows

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        b, s, n, heads, d = self.batched, self.rows, self.batched.q_len, q.shape[1], q.shape[2]
        keys = torch.cat([b.k[layer][:s], k.view(s, n, -1, d).to(b.k[layer].dtype)], dim=1)
        values = torch.cat([b.v[layer][:s], v.view(s, n, -1, d).to(b.v[layer].dtype)], dim=1)
        mask = None if b.mask is None else b.mask[:s]
        out = sdpa(q.view(s, n, heads, d).transpose(1, 2), keys.transpose(1, 2).to(q.dtype),
                   values.transpose(1, 2).to(q.dtype), mask)
        return out.transpose(1, 2).reshape(s * n, heads, d)
