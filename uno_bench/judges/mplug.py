"""`mplug` judge backend: DPG-Bench's official VQA model, mPLUG-large (COCO VQA), through ModelScope.

As the official scorer: `pipeline(Tasks.visual_question_answering, model=...)` called with
{"image": <PIL crop>, "question": <question>}, the answer is the pipeline's `text`. Optional extra
`uno[dpg]` (modelscope; upstream also needs fairseq-era dependencies that rarely build on Python
>= 3.11). Offline machines point `model=` at a local copy (some forks read $MPLUG_PATH).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from uno_bench.errors import MissingExtraError, UnoError
from uno_bench.judges.vlm import Answer, Query, check_role, parse_options

MPLUG_LARGE = "damo/mplug_visual-question-answering_coco_large_en"
OPTIONS: dict[str, tuple[type, Any]] = {"model": (str, None), "device": (str, "gpu")}


class MPlugBackend:
    cacheable = True
    concurrency = 1
    batch_size = 1

    def __init__(self, model: str = MPLUG_LARGE, device: str = "gpu"):
        self.model = model
        self.device = device
        self._pipeline = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        try:
            version = metadata.version("modelscope")
        except metadata.PackageNotFoundError:
            version = None
        name = self.model if not os.path.isdir(self.model) else os.path.basename(self.model.rstrip("/"))
        return {"name": "mplug", "model": name, "modelscope": version}

    def _load(self) -> None:
        from modelscope.pipelines import pipeline
        from modelscope.utils.constant import Tasks

        self._pipeline = pipeline(Tasks.visual_question_answering, model=self.model, device=self.device)

    def ask(self, queries: list[Query]) -> list[Answer]:
        with self._lock:
            if self._pipeline is None:
                self._load()
            answers = []
            for q in queries:
                if len(q.images) != 1:
                    raise UnoError("the mPLUG VQA judge answers about exactly one image")
                result = self._pipeline({"image": q.images[0].image, "question": q.text})
                answers.append(Answer(text=result["text"], calls=1))
            return answers


def load_judge(role: str, options: Mapping[str, str]) -> MPlugBackend:
    check_role("mplug", role)
    opts = parse_options(dict(options), OPTIONS, "mplug")
    if importlib.util.find_spec("modelscope") is None:
        raise MissingExtraError("modelscope", "dpg", "DPG-Bench's official mPLUG-large VQA judge")
    return MPlugBackend(opts["model"] or os.environ.get("MPLUG_PATH") or MPLUG_LARGE, opts["device"])
