"""Freezing by component, always with `requires_grad=False`.

Never detach activations to freeze (BAGEL's `freeze_und` does): detaching the und tokens' K/V
would also stop gradients from flowing *through* them into the gen expert, which is exactly the
path UNO trains.
"""

from __future__ import annotations

import re

from torch import nn

from uno_bench.errors import UnoError

# component -> predicate on the parameter name
COMPONENTS: dict[str, object] = {
    "und": lambda n: n.startswith("language_model.model.layers.") and "_moe_gen" not in n
    or n == "language_model.model.norm.weight",
    "gen": lambda n: n.startswith("language_model.model.layers.") and "_moe_gen" in n
    or n == "language_model.model.norm_moe_gen.weight",
    "embeddings": lambda n: n.startswith("language_model.model.embed_tokens."),
    "lm_head": lambda n: n.startswith("language_model.lm_head."),
    "vit": lambda n: n.startswith("vit_model."),
    "connector": lambda n: n.startswith("connector."),
    "gen_io": lambda n: re.match(r"(vae2llm|llm2vae|time_embedder)\.", n) is not None,
    "pos_embed": lambda n: n.endswith("pos_embed.pos_embed"),
}
# convenient groups
GROUPS = {
    "llm": ("und", "gen", "embeddings", "lm_head"),
    "understanding": ("und", "embeddings", "lm_head", "vit", "connector"),
}


def expand(names: list[str] | tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for name in names:
        if name in GROUPS:
            out |= set(GROUPS[name])
        elif name in COMPONENTS:
            out.add(name)
        else:
            known = ", ".join([*COMPONENTS, *GROUPS])
            raise UnoError(f"unknown component to freeze: {name!r} (known: {known})")
    return out


def freeze(model: nn.Module, names: list[str] | tuple[str, ...]) -> list[str]:
    """Set requires_grad=False on every parameter of the named components (the frozen 2-D
    position tables are always frozen). Returns the frozen parameter names."""
    components = expand(names) | {"pos_embed"}
    frozen = []
    for name, param in model.named_parameters():
        if any(COMPONENTS[c](name) for c in components):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen
