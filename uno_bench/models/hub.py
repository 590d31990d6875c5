"""`--ckpt OWNER/NAME[@REVISION]`: a checkpoint on the Hugging Face Hub, resolved with huggingface_hub into
its cache (downloaded once, with its progress bars; HF_HUB_OFFLINE=1 reads the cache only)."""

from __future__ import annotations

import re
from pathlib import Path

from uno_bench.errors import UnoError

# The hub's repo id grammar (owner/name: letters, digits, - _ .), optionally @revision (branch, tag, commit).
_REPO_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")


def parse_repo_id(spec: str) -> tuple[str, str | None] | None:
    """'ByteDance-Seed/BAGEL-7B-MoT@main' -> ('ByteDance-Seed/BAGEL-7B-MoT', 'main'); None if not that shape."""
    found = _REPO_ID.match(spec)
    if found is None or spec.startswith((".", "~")):
        return None
    return found["repo"], found["rev"]


def resolve_repo(repo_id: str, revision: str | None = None) -> Path:
    """The local snapshot folder of a model repo, downloaded into the hub cache if needed."""
    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:  # a dependency of uno's; only a broken install lacks it
        raise UnoError("--ckpt with a Hugging Face repo id needs huggingface_hub (pip install huggingface_hub)") \
            from None
    what = repo_id + (f"@{revision}" if revision else "")
    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except LocalEntryNotFoundError:
        if constants.HF_HUB_OFFLINE:
            raise UnoError(f"checkpoint {what} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
                           "HF_HUB_OFFLINE=1 forbids downloading it: download it once online "
                           f"(hf download {repo_id}), or give a local folder") from None
        raise UnoError(f"checkpoint {what}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the hub "
                       "could not be reached; check the network or give a local folder") from None
    except GatedRepoError:
        raise UnoError(f"checkpoint {what} is gated: accept its terms on the hub and log in (hf auth login)") from None
    except RevisionNotFoundError:
        raise UnoError(f"checkpoint {what}: the repo has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise UnoError(f"checkpoint {what}: no such folder, and no such model repo on the Hugging Face Hub "
                       "(or it is private: log in with hf auth login)") from None
