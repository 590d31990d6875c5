"""The few verbs a benchmark needs from a model (after UniEval): generate, edit, understand.

An adapter is built once per run with its sampler settings fixed; `identity()` is what the run
manifest records about it (checkpoint hash, settings), so two runs are comparable exactly when
their identities match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from PIL import Image


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    seed: int  # derived from (suite, prompt id, sample index, base seed) only
    width: int
    height: int
    # Where the image goes in the suite's official layout (e.g. "00012/samples/0003.png"). Models
    # must not let it change pixels; adapters that read existing images (`folder`) use it.
    key: str = ""


@dataclass(frozen=True)
class EditRequest:
    image: Image.Image  # the image to edit
    instruction: str
    seed: int  # derived from (suite, sample id, sample index, base seed) only
    # Where the edited image goes in the suite's official layout; as for GenerationRequest, models must
    # not let it change pixels (the `folder` adapter reads existing edits by it).
    key: str = ""
    # Further input images a benchmark gives with the instruction (KRIS-Bench's multi-image tasks), in
    # order; the model sees them before `image`.
    references: tuple[Image.Image, ...] = ()

    @property
    def inputs(self) -> tuple[Image.Image, ...]:
        """Every input image in context order (references first, the image to edit last)."""
        return (*self.references, self.image)


@runtime_checkable
class ModelAdapter(Protocol):
    name: str

    def identity(self) -> dict[str, Any]:
        """JSON-serialisable description: checkpoint identity and every setting that moves outputs."""
        ...

    def generate(self, requests: list[GenerationRequest]) -> list[Image.Image]:
        """Text-to-image. Each image depends only on its own request, never on the batch."""
        ...

    def edit(self, requests: list[EditRequest]) -> list[Image.Image]:
        """Instruction-based editing. Each image depends only on its own request; its size is the
        model's choice (BAGEL keeps the source's aspect ratio)."""
        ...

    def understand(self, images: list[Image.Image], prompt: str, max_new_tokens: int = 64) -> list[str]:
        ...
