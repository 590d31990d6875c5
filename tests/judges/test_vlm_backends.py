"""The `hf` backend on a tiny random Qwen3-VL built from a config, the text-judge replay, and mPLUG's
missing-extra error."""

from __future__ import annotations

import pytest
import torch
from judge_fixtures import make_tiny_vlm
from PIL import Image

from uno_bench.errors import MissingExtraError, UnoError
from uno_bench.judges.hf_vlm import load_judge
from uno_bench.judges.replay import ReplayMissError
from uno_bench.judges.replay_text import VLMRecorder, VLMReplay
from uno_bench.judges.vlm import ImageInput, Query

VARIANTS = ("four", "Four", " four", " Four", "4", " 4")


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return make_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))


def _pictures():
    return [ImageInput(Image.new("RGB", (48, 32), (200, 30, 30))), ImageInput(Image.new("RGB", (32, 64), (0, 90, 250)))]


def test_first_token_probabilities_match_an_independent_forward(tiny_vlm):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    backend = load_judge("vlm", {"model": str(tiny_vlm), "dtype": "float32", "device": "cpu"})
    red, _ = _pictures()
    [answer] = backend.ask([Query("How many cat are there in the image ? Answer in one word.", (red,),
                                  candidates=VARIANTS)])
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text":
                 "How many cat are there in the image ? Answer in one word."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[red.image], return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model(**inputs).logits[0, -1].float(), dim=-1)
    tok = processor.tokenizer
    first = [tok.encode(v, add_special_tokens=False)[0] for v in VARIANTS]
    assert first[2] == first[3] == first[5] == tok.convert_tokens_to_ids(" ")  # shared first token: counted 3x
    assert answer.candidate_probs == pytest.approx([float(probs[i]) for i in first], rel=1e-4)
    assert answer.top_token == tok.decode([int(probs.argmax())])
    identity = backend.identity()
    assert identity["name"] == "hf" and identity["weights"] and identity["transformers"]


def test_batched_equals_one_by_one_and_free_text(tiny_vlm):
    backend = load_judge("vlm", {"model": str(tiny_vlm), "dtype": "float32", "device": "cpu", "batch_size": "4"})
    red, blue = _pictures()
    queries = [Query("Is there a cat ?", (red,), candidates=("Yes", " yes")),
               Query("How many dog are there ?", (blue,), candidates=VARIANTS),
               Query("Answer .", (blue,), image_first=False, max_tokens=5)]
    together = backend.ask(queries)
    alone = [backend.ask([q])[0] for q in queries]
    for a, b in zip(together, alone):
        assert a.text == b.text
        if a.candidate_probs is not None:
            assert a.candidate_probs == pytest.approx(b.candidate_probs, rel=1e-4, abs=1e-7)
    assert together[2].candidate_probs is None and isinstance(together[2].text, str)


def test_record_then_replay(tiny_vlm, tmp_path):
    backend = load_judge("vlm", {"model": str(tiny_vlm), "dtype": "float32", "device": "cpu"})
    red, blue = _pictures()
    queries = [Query("Is there a cat ?", (red,), candidates=("Yes",)), Query("Describe .", (blue,), max_tokens=3)]
    recorder = VLMRecorder(backend, tmp_path / "rec.jsonl")
    recorded = recorder.ask(queries)
    recorder.close()
    replay = VLMReplay(tmp_path / "rec.jsonl")
    assert len(replay) == 2 and replay.identity() == {"name": "replay", "recorded": backend.identity()}
    assert [a.to_json() for a in replay.ask(queries)] == [a.to_json() for a in recorded]
    with pytest.raises(ReplayMissError, match="no recorded answer"):
        replay.ask([Query("Is there a cat ?", (red,), candidates=("Yes",), attempt=1)])
    with pytest.raises(UnoError, match="records judge"):
        VLMRecorder(load_judge("vlm", {"model": str(tiny_vlm), "dtype": "bfloat16"}), tmp_path / "rec.jsonl")
    # A torn last line (killed recorder) is ignored.
    with open(tmp_path / "rec.jsonl", "ab") as fh:
        fh.write(b'{"op": "ask", "que')
    assert len(VLMReplay(tmp_path / "rec.jsonl")) == 2


def test_mplug_needs_the_dpg_extra():
    import importlib.util

    from uno_bench.judges.registry import load_role

    if importlib.util.find_spec("modelscope") is not None:
        pytest.skip("modelscope is installed here")
    with pytest.raises(MissingExtraError, match=r"pip install 'uno\[dpg\]'"):
        load_role("mplug-large", "vlm", {})
    with pytest.raises(UnoError, match="takes no option"):
        load_role("mplug", "vlm", {"weights": "x"})


def test_a_model_that_cannot_load_fails_once_with_a_clear_error(tmp_path):
    backend = load_judge("vlm", {"model": str(tmp_path / "no-such-model"), "device": "cpu"})
    query = Query("q", (_pictures()[0],))
    with pytest.raises(UnoError, match="could not be loaded"):
        backend.ask([query])
    with pytest.raises(UnoError, match="could not be loaded"):  # remembered, not retried per image
        backend.ask([query])
