"""Per-image seeds that depend only on (suite, prompt id, sample index, base seed).

Never on batch size, rank, world size or the order work is done in: a 1-GPU and a 64-GPU run of
the same settings draw exactly the same noise for every image.
"""

from __future__ import annotations

import hashlib

SEED_POLICY = "int(sha256(f'{suite}/{prompt_id}/{index}/{base_seed}')[:8 bytes], big-endian) >> 1  (63 bits)"


def derive_seed(suite: str, prompt_id: str, index: int, base_seed: int) -> int:
    digest = hashlib.sha256(f"{suite}/{prompt_id}/{index}/{base_seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
