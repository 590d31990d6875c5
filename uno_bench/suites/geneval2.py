"""GenEval 2 (facebookresearch/GenEval2 @ a6e82d2; docs/judges.md): Soft-TIFA over a VQA judge.

Samples: the 800 lines of geneval2_data.jsonl, id = 3-digit line number. Layout: `<id>_<j>.png`
(the official scorer takes a JSON map prompt -> image path instead; one image per prompt is the
protocol, more are allowed and labelled as a harness choice).

Judging, as `evaluation.py` does it: one query per VQA item, the image then "<question> Answer in
one word.", greedy, one new token; the atom score is the *sum* over the answer's variant list of
the probability of each variant's first token (variants sharing a first token are counted twice,
as upstream). Variants: yes-questions "Yes", "yes", " yes", " Yes"; count questions the word, its
capitalised form, both with a leading space, the digit string (one..ten -> "1".."10", else
"other") and the digit string with a leading space. TIFA (hard) = the lower-cased most likely
first token is one of the variants. VQAScore asks 'Does this image show "<prompt>"? Answer the
question with Yes or No.' and takes the yes-variant mass.

Aggregation: per prompt, Soft-TIFA AM = arithmetic mean of its atom scores, GM = geometric mean
(scipy gmean: any zero gives 0); benchmark = 100 x mean over prompts (GM is the headline). Per skill
(`soft_tifa_analysis.py`): 100 x mean of all pooled atom scores of that skill (AM); per atomicity:
100 x mean of the per-prompt GM over prompts with that atom_count. With several images per prompt
a prompt's score is the mean over its scored images (a harness choice, labelled).

Protocol options (`--judge-option`): methods=soft_tifa (default; gives GM, AM and TIFA) and/or
vqascore, comma-separated. Every other option goes to the backend (hf: model=..., openai: ...).
The official judge is `qwen3-vl-8b` (hf backend, Qwen/Qwen3-VL-8B-Instruct); any other backend or
model is labelled non-official in the identity and the summary.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge, stats
from uno_bench.judges.vlm import ImageInput, Query, text_sha256
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.vqa import judge_label, judge_summary, load_vlm_judge, stats_total

PARSER_VERSION = 1
SKILLS = ("object", "attribute", "count", "position", "verb")  # the analysis script's order
YES_VARIANTS = ("Yes", "yes", " yes", " Yes")
_DIGITS = {w: str(i) for i, w in enumerate("one two three four five six seven eight nine ten".split(), start=1)}
QUESTION_TEMPLATE = "{question} Answer in one word."
VQASCORE_TEMPLATE = 'Does this image show "{prompt}"? Answer the question with Yes or No.'
METHODS = ("soft_tifa", "vqascore")
OFFICIAL_MODEL = "Qwen/Qwen3-VL-8B-Instruct"


def answer_variants(expected: str) -> tuple[str, ...]:
    """The strings whose first-token probabilities are summed for an expected answer."""
    if expected.lower() == "yes":
        return YES_VARIANTS
    digit = _DIGITS.get(expected.lower(), "other")
    cap = expected.capitalize()
    return (expected, cap, " " + expected, " " + cap, digit, " " + digit)


def gmean(values: list[float]) -> float:
    """scipy.stats.gmean for positive inputs: exp(mean(log)); any zero gives 0."""
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(np.asarray(values, dtype=np.float64)))))


def amean(values: list[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def _official(backend: dict[str, Any]) -> bool:
    return backend.get("name") == "hf" and backend.get("model") == OFFICIAL_MODEL


class GenEval2Suite(Suite):
    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        path = prompts_file or self.data_path("data")
        samples = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                vqa, skills = row["vqa_list"], row["skills"]
                ok = isinstance(row["prompt"], str) and len(vqa) == len(skills) and all(len(p) == 2 for p in vqa)
            except (json.JSONDecodeError, KeyError, TypeError):
                ok = False
            if not ok:
                raise UnoError(f"{path}:{number}: not a GenEval 2 record (prompt, atom_count, vqa_list, skills)")
            samples.append(Sample(f"{len(samples):03d}", row["prompt"], str(row.get("atom_count", "")), row))
        return samples

    def required_data(self, prompts_file: Path | None) -> list[str]:
        return [] if prompts_file is not None else super().required_data(prompts_file)

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}_{index}.png"

    def load_judge(self, name: str, options: Mapping[str, str]) -> ProtocolJudge:
        methods = tuple(m.strip() for m in options.get("methods", "soft_tifa").split(",") if m.strip())
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            raise UnoError(f"GenEval 2 methods are {', '.join(METHODS)} (comma-separated), not {bad or '(none)'}")
        protocol = {
            "suite": "geneval2",
            "methods": list(methods),
            "templates": {"question": text_sha256(QUESTION_TEMPLATE), "vqascore": text_sha256(VQASCORE_TEMPLATE)},
            "parser_version": PARSER_VERSION,
        }
        judge, _ = load_vlm_judge(name, options, protocol, {"methods"}, _official,
                                  f"not GenEval 2's official judge (hf {OFFICIAL_MODEL})")
        return judge

    def judge(self, judge: ProtocolJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        row = sample.metadata
        picture = (ImageInput(image),)
        methods = judge.protocol["methods"]
        queries = []
        if "soft_tifa" in methods:
            for question, expected in row["vqa_list"]:
                queries.append(Query(QUESTION_TEMPLATE.format(question=question), picture,
                                     candidates=answer_variants(expected), max_tokens=1))
        if "vqascore" in methods:
            queries.append(Query(VQASCORE_TEMPLATE.format(prompt=sample.prompt), picture,
                                 candidates=YES_VARIANTS, max_tokens=1))
        answers = judge.ask(queries)
        for answer, query in zip(answers, queries, strict=True):
            if answer.candidate_probs is None or len(answer.candidate_probs) != len(query.candidates):
                raise UnoError("the judge returned no first-token probabilities (GenEval 2 needs them: "
                               "an hf model, or an endpoint with logprobs)")
        record: dict[str, Any] = {"prompt": sample.prompt, "atom_count": row.get("atom_count"),
                                  "category": sample.category, "judge": judge_label(judge),
                                  "judge_stats": stats(answers)}
        if "soft_tifa" in methods:
            atoms = []
            for (question, expected), skill, answer, query in zip(row["vqa_list"], row["skills"], answers,
                                                                   queries, strict=False):
                top = answer.top_token or ""
                atoms.append({"question": question, "expected": expected, "skill": skill,
                              "variant_probs": answer.candidate_probs, "p": float(sum(answer.candidate_probs)),
                              "top_token": top, "tifa": top.lower() in query.candidates})
            ps = [a["p"] for a in atoms]
            record.update(atoms=atoms, soft_tifa_gm=gmean(ps), soft_tifa_am=amean(ps),
                          tifa=amean([float(a["tifa"]) for a in atoms]), score=gmean(ps))
        if "vqascore" in methods:
            record["vqascore"] = float(sum(answers[-1].candidate_probs or []))
            record.setdefault("score", record["vqascore"])
        return record

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return {"prompt": sample.prompt, "atom_count": sample.metadata.get("atom_count"), "category": sample.category}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records)


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Official aggregation over scored records (see the module docstring); 100 x scale."""
    scored = [r for r in records if r.get("scored")]
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in scored:
        by_prompt[r["prompt_id"]].append(r)
    prompt_ids = sorted({r["prompt_id"] for r in records})
    per_image = max((r.get("sample_index", 0) + 1 for r in records), default=1)
    out: dict[str, Any] = {
        "prompts": {"expected": len(prompt_ids), "scored": len(by_prompt),
                    "complete": len(by_prompt) == len(prompt_ids) and len(scored) == len(records)},
        "images_per_prompt": per_image,
        "protocol": "official: one image per prompt" if per_image == 1
        else f"harness: a prompt's score is the mean over its {per_image} images (the official scorer takes one)",
    }

    def prompt_mean(field: str) -> dict[str, float]:
        return {pid: amean([r[field] for r in rs]) for pid, rs in by_prompt.items() if all(field in r for r in rs)}

    headline = None
    if any("soft_tifa_gm" in r for r in scored):
        gm, am, tifa = prompt_mean("soft_tifa_gm"), prompt_mean("soft_tifa_am"), prompt_mean("tifa")
        out["soft_tifa_gm"] = 100 * amean(list(gm.values()))
        out["soft_tifa_am"] = 100 * amean(list(am.values()))
        out["tifa"] = 100 * amean(list(tifa.values()))
        pooled: dict[str, list[float]] = defaultdict(list)
        for r in scored:
            for atom in r.get("atoms", []):
                pooled[atom["skill"]].append(atom["p"])
        out["skills"] = {s: {"soft_tifa_am": 100 * amean(pooled[s]), "atoms": len(pooled[s])}
                         for s in [*SKILLS, *sorted(set(pooled) - set(SKILLS))] if pooled.get(s)}
        by_atoms: dict[str, list[float]] = defaultdict(list)
        for pid, value in gm.items():
            by_atoms[str(by_prompt[pid][0].get("atom_count"))].append(value)
        out["atomicity"] = {k: {"soft_tifa_gm": 100 * amean(v), "prompts": len(v)}
                            for k, v in sorted(by_atoms.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 99)}
        headline = out["soft_tifa_gm"]
    if any("vqascore" in r for r in scored):
        out["vqascore"] = 100 * amean(list(prompt_mean("vqascore").values()))
        headline = out["vqascore"] if headline is None else headline
    out["overall"] = headline
    out["categories"] = {s: v["soft_tifa_am"] for s, v in out.get("skills", {}).items()}
    out["judge"] = judge_summary(records)
    out["judge_stats"] = stats_total(records)
    return out

