"""Judge names -> factories, imported lazily (naming a judge never loads weights or torch).

A factory is `factory(role, options) -> judge`, where `role` says what the suite needs from it
("detector" or "colors" for GenEval-style suites) and `options` are the user's `--judge-option`
pairs meant for judges (rule options are taken out by the suite first). A factory rejects options
it does not know and roles it cannot fill, with a one-line UnoError. A suite may hand the same
options to several judges: model judges take their own keys as `<judge>.<key>` (judges.judge_options).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.registry import Registry

ROLES = ("detector", "colors", "vlm")  # vlm: answers questions about images (judges/vlm.py)

JUDGES: Registry[Any] = Registry("judge")
JUDGES.register(
    "shapes-analytic", "uno_bench.judges.registry:shapes_analytic",
    help="exact shape and colour recovery for the synthetic shapes world (CPU, no weights)",
)
JUDGES.register(
    "replay", "uno_bench.judges.registry:replay",
    help="answers recorded earlier from another judge: --judge-option recording=PATH",
)
JUDGES.register(
    "mask2former", "uno_bench.judges.mask2former:load_judge", aliases=("mmdet", "mask2former-swin-s"),
    help="GenEval's official detector: mmdet's Mask2Former Swin-S weights run through transformers "
    "(no mmdet needed); --judge-option mask2former.weights=PATH",
)
JUDGES.register(
    "clip", "uno_bench.judges.clip_color:load_judge", aliases=("clip-vit-l-14",),
    help="GenEval's official colour classifier: open_clip ViT-L-14 (openai), 3 templates per class; "
    "--judge-option clip.weights=PATH",
)
JUDGES.register(
    "openai", "uno_bench.judges.openai_http:load_judge", aliases=("openai-compatible", "http"),
    help="any OpenAI-compatible chat-completions endpoint: base_url=URL model=NAME (key from $OPENAI_API_KEY)",
)
JUDGES.register(
    "gemini-2.5-pro", "uno_bench.judges.openai_http:load_gemini", aliases=("gemini",),
    help="UniGenBench++'s leaderboard judge via Google's OpenAI-compatible endpoint (key from $GEMINI_API_KEY)",
)
JUDGES.register(
    "unigenbench-qwen", "uno_bench.judges.openai_http:load_unigenbench_qwen",
    help="UniGenBench++'s released offline judge served by vLLM: base_url=URL (model name QwenVL)",
)
JUDGES.register(
    "hf", "uno_bench.judges.hf_vlm:load_judge", aliases=("transformers",),
    help="a local transformers vision-language model: model=HUB_ID_OR_FOLDER (greedy, first-token probabilities)",
)
JUDGES.register(
    "qwen3-vl-8b", "uno_bench.judges.hf_vlm:load_qwen3_vl_8b", aliases=("qwen3-vl-8b-instruct",),
    help="GenEval 2's official judge: Qwen/Qwen3-VL-8B-Instruct through transformers",
)
JUDGES.register(
    "mplug", "uno_bench.judges.mplug:load_judge", aliases=("mplug-large",),
    help="DPG-Bench's official VQA judge: mPLUG-large through ModelScope (pip install 'uno[dpg]')",
)


def _no_options(name: str, options: Mapping[str, str], allowed: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UnoError(f"judge '{name}' takes no option(s) {', '.join(unknown)}" +
                       (f" (it takes: {', '.join(allowed)})" if allowed else ""))


def shapes_analytic(role: str, options: Mapping[str, str]) -> Any:
    from uno_bench.shapes.judges import ShapesColorClassifier, ShapesDetector

    _no_options("shapes-analytic", options)
    return ShapesDetector() if role == "detector" else ShapesColorClassifier()


def replay(role: str, options: Mapping[str, str]) -> Any:
    from uno_bench.judges.replay import ReplayJudge

    _no_options("replay", options, ("recording",))
    path = options.get("recording")
    if not path:
        raise UnoError("the replay judge needs --judge-option recording=PATH (made by a run with "
                       "--judge-option record=PATH, or in Python with judges.replay.Recorder)")
    if role == "vlm":
        from uno_bench.judges.replay_text import VLMReplay

        return VLMReplay(path)
    return ReplayJudge(path)  # it answers both detector roles


def load_role(name: str, role: str, options: Mapping[str, str]) -> Any:
    """The judge registered as `name`, built for `role`."""
    if role not in ROLES:
        raise ValueError(f"unknown judge role {role!r}")
    factory = JUDGES.get(name)
    return factory(role, dict(options))
