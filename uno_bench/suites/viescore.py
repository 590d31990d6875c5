"""GEdit-Bench's judge protocol: VIEScore's zero-shot text-image-editing (tie) prompts and reply parser.

The prompt texts are the protocol (GEdit-Bench numbers were produced with exactly these words), so
they are reproduced unchanged, whitespace included, from VIEScore's `vie_prompts.py` as vendored by
stepfun-ai/Step1X-Edit `GEdit-Bench/viescore/` (commit 570eba6, Apache-2.0; docs/edit_suites.md):
`_context_no_delimit`, `_prompts_0shot_two_image_edit_rule`, `_prompts_0shot_tie_rule_SC` and
`_prompts_0shot_rule_PQ`. The SC prompt joins context, two-image rule and SC rule with newlines and
replaces `<instruction>`; the PQ prompt joins context and PQ rule. [Read from public copies of the
VIEScore prompt file; the Step1X copy itself could not be opened here, so byte equality with it is
unverified: the texts' sha256 are part of the judge identity, so a correction re-keys the cache.]

Reply parsing re-implements VIEScore's `mllm_output_to_dict` (its behaviour, not its code):
1. a reply holding the delimiter `||V^=^V||` exactly twice: the text between them;
2. otherwise from the first "{" to the last "}"; when there is no "{...}": a bare list of two
   integers ("[6, 0]") or a bare integer 0-10 is taken as the scores; anything else fails;
3. newlines removed, parsed as JSON, a non-list "score" wrapped in a list; if the JSON is invalid,
   one repair pass (quote bare keys; wrap bare numbers in a list, keep true/false/null, quote other
   values) and a second parse, whose "score" is *not* wrapped.
By default this never guesses: where the official code draws a random 0-10 score on its second
try (a reply with no "{...}" in it, an empty one included: `official_would_guess`), the reply here is a
parse failure; GEdit's `guess_seed=` option reproduces the guess with a seeded generator. The scores must then be a non-empty list of numbers (the
official code takes their min and would crash, and retry, on anything else).
"""

from __future__ import annotations

import json
import re
from typing import Any

CONTEXT = """You are a professional digital artist. You will have to evaluate the effectiveness of the AI-generated image(s) based on given rules.
All the input images are AI-generated. All human in the images are AI-generated too. so you need not worry about the privacy confidentials.

You will have to give your output in this way (Keep your reasoning concise and short.):
{
"score" : [...],
"reasoning" : "..."
}"""

TWO_IMAGE_EDIT_RULE = """RULES:

Two images will be provided: The first being the original AI-generated image and the second being an edited version of the first.
The objective is to evaluate how successfully the editing instruction has been executed in the second image.

Note that sometimes the two images might look identical due to the failure of image edit.
"""

TIE_RULE_SC = """
From scale 0 to 10: 
A score from 0 to 10 will be given based on the success of the editing. (0 indicates that the scene in the edited image does not follow the editing instruction at all. 10 indicates that the scene in the edited image follow the editing instruction text perfectly.)
A second score from 0 to 10 will rate the degree of overediting in the second image. (0 indicates that the scene in the edited image is completely different from the original. 10 indicates that the edited image can be recognized as a minimal edited yet effective version of original.)
Put the score in a list such that output score = [score1, score2], where 'score1' evaluates the editing success and 'score2' evaluates the degree of overediting.

Editing instruction: <instruction>
"""  # noqa: W291 - the trailing spaces are part of the official text

RULE_PQ = """RULES:

The image is an AI-generated image.
The objective is to evaluate how successfully the image has been generated.

From scale 0 to 10: 
A score from 0 to 10 will be given based on image naturalness. 
(
    0 indicates that the scene in the image does not look natural at all or give a unnatural feeling such as wrong sense of distance, or wrong shadow, or wrong lighting. 
    10 indicates that the image looks natural.
)
A second score from 0 to 10 will rate the image artifacts. 
(
    0 indicates that the image contains a large portion of distortion, or watermark, or scratches, or blurred faces, or unusual body parts, or subjects not harmonized. 
    10 indicates the image has no artifacts.
)
Put the score in a list such that output score = [naturalness, artifacts]
"""  # noqa: W291

SC_TEMPLATE = "\n".join([CONTEXT, TWO_IMAGE_EDIT_RULE, TIE_RULE_SC])
PQ_PROMPT = "\n".join([CONTEXT, RULE_PQ])
DELIMITER = "||V^=^V||"


def sc_prompt(instruction: str) -> str:
    return SC_TEMPLATE.replace("<instruction>", instruction)


def _repair(text: str) -> str:
    """VIEScore's one repair pass: quote bare `word:` keys, then rewrite each `"key": value` up to the
    next comma or closing brace: a number becomes [number], true/false/null stay, anything else is quoted."""
    text = re.sub(r"(\w+):", r'"\1":', text)

    def value(match: re.Match[str]) -> str:
        key, raw, end = match.groups()
        raw = raw.strip()
        if re.match(r"^-?\d+(\.\d+)?$", raw):
            raw = f"[{raw}]"
        elif not re.match(r"^(true|false|null)$", raw, re.IGNORECASE):
            raw = f'"{raw}"'
        return f"{key}: {raw}{end}"

    return re.sub(r'(".*?"):(.*?)(,|})', value, text)


def _bare_int(text: str) -> int | None:
    try:
        number = int(text)
    except ValueError:
        return None
    return number if 0 <= number <= 10 else None


def parse_reply(text: str | None) -> dict[str, Any] | str:
    """The reply as VIEScore reads it ({"score": [...], ...}), or why it cannot be read."""
    if text is None:
        return "empty reply"
    if text.count(DELIMITER) == 2:
        body = text[text.find(DELIMITER) + len(DELIMITER): text.rfind(DELIMITER)]
    else:
        start, end = text.find("{"), text.rfind("}") + 1
        if start == -1 or end == 0:
            lo, hi = text.find("["), text.rfind("]") + 1
            if re.match(r"^\[\d+, ?\d+\]$", text[lo:hi]):
                return {"score": json.loads(text[lo:hi]), "reasoning": None, "parsed_as": "bare list"}
            number = _bare_int(text)
            if number is not None:
                return {"score": [number], "reasoning": None, "parsed_as": "bare number"}
            return "no JSON object in the reply"
        body = text[start:end]
    body = body.strip().replace("\n", "")
    if not body:
        return "empty JSON"
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or "score" not in data:
            return "no 'score' in the JSON"
        if not isinstance(data["score"], list):
            data["score"] = [data["score"]]
        data["parsed_as"] = "json"
        return data
    except json.JSONDecodeError:
        pass
    try:
        data = json.loads(_repair(body))
    except json.JSONDecodeError:
        return "invalid JSON (repair failed)"
    if not isinstance(data, dict) or "score" not in data:
        return "no 'score' in the JSON"
    data["parsed_as"] = "repaired json"
    return data


def official_would_guess(text: str | None) -> bool:
    """Whether VIEScore, on its give-up try, replaces this reply by `random.randint(0, 10)`: its guess
    branch is taken where no delimited body and no "{...}" is found (before any bare-list check), so an
    empty reply (an API error upstream) and a bare "[6, 0]" are guessed too."""
    if not text:
        return True
    if text.count(DELIMITER) == 2:
        return False
    return text.find("{") == -1 or text.rfind("}") == -1


def scores_of(parsed: dict[str, Any] | str) -> list[float] | str:
    """The numeric score list the official min() is taken over, or why there is none."""
    if isinstance(parsed, str):
        return parsed
    scores = parsed.get("score")
    if not isinstance(scores, list) or not scores:
        return "'score' is not a non-empty list"
    if any(isinstance(s, bool) or not isinstance(s, int | float) for s in scores):
        return "'score' holds something other than numbers"
    return [float(s) for s in scores]
