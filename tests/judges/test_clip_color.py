"""GenEval's colour judge: clip_benchmark's zero-shot classifier on hand-made embeddings, and the
judge's plumbing (texts, crops, batching, caching, identity, weights lookup) on a tiny random CLIP."""

# ruff: noqa: F811 - the fixtures imported from tiny_judges are used as test arguments

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_judges import tiny_clip_name, tiny_clip_weights  # noqa: F401 (fixtures)

from uno_bench.errors import UnoError
from uno_bench.judges import clip_color as cc
from uno_bench.judges.base import Detection, prepare_crop
from uno_bench.judges.registry import load_role

COLORS = ["red", "green", "blue"]


def test_texts_are_the_official_three_templates_per_colour():
    assert cc.class_texts("fire hydrant", ["red", "pink"]) == [
        ["a photo of a red fire hydrant", "a photo of a red-colored fire hydrant", "a photo of a red object"],
        ["a photo of a pink fire hydrant", "a photo of a pink-colored fire hydrant", "a photo of a pink object"],
    ]


def test_classifier_normalises_each_template_before_averaging():
    """Class 0's templates point at e0 (one with a huge norm), class 1's at e1 and e2. The image lies
    between e0 and e1 but nearer e1: averaging raw embeddings would let the long template drag
    class 0's column and flip the answer; clip_benchmark's normalise-then-average does not."""
    e = torch.eye(3)
    class0 = torch.stack([50 * (e[0] + 0.9 * e[1]), e[0] - 0.9 * e[1]])
    class1 = torch.stack([e[1], e[2]])
    weights = cc.zero_shot_weights([class0, class1])
    torch.testing.assert_close(weights[:, 0], e[0])  # normalised mean of two unit vectors symmetric about e0
    torch.testing.assert_close(weights.norm(dim=0), torch.ones(2))
    image = (0.5 * e[0] + 0.8 * e[1])[None]
    logits = cc.zero_shot_logits(image, weights)
    assert logits.argmax(dim=1).tolist() == [1]
    raw = torch.stack([class0.mean(0), class1.mean(0)], dim=1)
    raw = raw / raw.norm(dim=0)
    assert (torch.nn.functional.normalize(image, dim=-1) @ raw).argmax(dim=1).tolist() == [0]
    torch.testing.assert_close(logits, 100 * torch.nn.functional.normalize(image, dim=-1) @ weights)


def detections(size: tuple[int, int]) -> list[Detection]:
    width, height = size
    out = []
    for i in range(5):
        mask = np.zeros((height, width), dtype=bool)
        mask[2 + i : 12 + 2 * i, 3 * i : 10 + 4 * i] = True
        ys, xs = np.nonzero(mask)
        out.append(Detection("cup", 0.9, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), mask))
    return out


def scene() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))


@pytest.fixture()
def judge(tiny_clip_name, tiny_clip_weights):
    return load_role("clip", "colors", {"clip.model": tiny_clip_name, "clip.weights": str(tiny_clip_weights),
                                         "mask2former.weights": "ignored", "device": "cpu"})


class Spy:
    """Wraps a callable and records what it was called with (the wrapped code still runs)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args):
        self.calls.append(args)
        return self.fn(*args)


def test_judge_texts_crops_batches_and_caches(judge):
    image, dets = scene(), detections((40, 30))
    judge.tokenizer = Spy(judge.tokenizer)
    judge.preprocess = Spy(judge.preprocess)
    encode = Spy(judge.model.encode_image)
    judge.model.encode_image = encode
    judge.batch_size = 2
    colors = judge.classify(image, dets, "cup", COLORS)
    assert len(colors) == 5 and set(colors) <= set(COLORS)
    assert [c[0] for c in judge.tokenizer.calls] == cc.class_texts("cup", COLORS)  # one call per colour
    assert [c[0].shape[0] for c in encode.calls] == [2, 2, 1]
    for (crop,), det in zip(judge.preprocess.calls, dets):
        assert np.array_equal(np.asarray(crop), np.asarray(prepare_crop(image, det)))  # grey #999, cropped
    assert judge.classify(image, dets, "cup", COLORS) == colors  # deterministic
    assert len(judge.tokenizer.calls) == 3  # the classifier of "cup" was cached
    judge.batch_size = 16
    assert judge.classify(image, dets, "cup", COLORS) == colors  # batching does not change answers
    assert judge.classify(image, [], "cup", COLORS) == []


def test_judge_logits_equal_the_classifier_applied_by_hand(judge):
    image, dets = scene(), detections((40, 30))
    model, prep = judge.model, judge.preprocess
    with torch.no_grad():
        cols = []
        for texts in cc.class_texts("cup", COLORS):
            feats = model.encode_text(judge.tokenizer(texts))
            mean = torch.nn.functional.normalize(feats, dim=-1).mean(0)
            cols.append(mean / mean.norm())
        batch = torch.stack([prep(prepare_crop(image, d)) for d in dets])
        img = torch.nn.functional.normalize(model.encode_image(batch), dim=-1)
    expected = [COLORS[i] for i in (img @ torch.stack(cols, 1)).argmax(1).tolist()]
    assert judge.classify(image, dets, "cup", COLORS) == expected


def test_crop_options_reach_the_crops(tiny_clip_name, tiny_clip_weights):
    opts = {"clip.model": tiny_clip_name, "clip.weights": str(tiny_clip_weights)}
    whole = load_role("clip", "colors", {**opts, "crop": "0", "bgcolor": "original"})
    whole.preprocess = Spy(whole.preprocess)
    image, dets = scene(), detections((40, 30))
    whole.classify(image, dets[:1], "cup", COLORS)
    assert np.array_equal(np.asarray(whole.preprocess.calls[0][0]), np.asarray(image))
    with pytest.raises(UnoError, match="bgcolor='nocolour'"):
        load_role("clip", "colors", {**opts, "bgcolor": "nocolour"})


def test_identity_names_model_weights_templates_and_crop_settings(judge, tiny_clip_weights):
    ident = judge.identity()
    assert ident["name"] == "clip" and ident["quick_gelu"] is True and ident["amp_fp16"] is False
    assert ident["weights"]["sha256"] == hashlib.sha256(tiny_clip_weights.read_bytes()).hexdigest()
    assert ident["templates"] == list(cc.TEMPLATES) and len(ident["templates_sha256"]) == 64
    assert ident["bgcolor"] == "#999" and ident["crop"] is True
    assert ident["preprocess"]["size"] == [32, 32] and ident["preprocess"]["interpolation"] == "bicubic"


def test_default_weights_come_from_the_hugging_face_cache_only(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("UNO_CACHE_DIR", str(tmp_path / "uno"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UnoError, match="open_clip_model.safetensors.*timm/vit_large_patch14_clip_224.openai.*clip.weights"):
        cc.locate_weights(None)
    repo = tmp_path / "hub" / "models--timm--vit_large_patch14_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"x")
    assert cc.locate_weights(None) == snapshot / "open_clip_model.safetensors"
    mine = tmp_path / "uno" / "judges" / "clip" / "open_clip_pytorch_model.bin"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"y")
    assert cc.locate_weights(None) == mine  # uno's own folder first
    with pytest.raises(UnoError, match="clip.model=ViT-B-32 needs its weights"):
        cc.locate_weights(None, "ViT-B-32")


def test_options(tiny_clip_name, tiny_clip_weights, tmp_path):
    with pytest.raises(UnoError, match="is a colour judge"):
        load_role("clip", "detector", {})
    with pytest.raises(UnoError, match="write clip.weights="):
        load_role("clip", "colors", {"weights": str(tiny_clip_weights)})
    with pytest.raises(UnoError, match="clip.amp='maybe': expected 1 or 0"):
        load_role("clip", "colors", {"clip.amp": "maybe", "clip.weights": str(tiny_clip_weights)})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(UnoError, match="not a readable safetensors file"):
        load_role("clip", "colors", {"clip.model": tiny_clip_name, "clip.weights": str(bad)})
    from safetensors.torch import load_file, save_file

    partial = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in load_file(str(tiny_clip_weights)).items() if k != "logit_scale"}, str(partial))
    with pytest.raises(UnoError, match="not open_clip uno-tiny-clip weights: missing logit_scale"):
        load_role("clip", "colors", {"clip.model": tiny_clip_name, "clip.weights": str(partial)})
    pickled = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(load_file(str(tiny_clip_weights)), pickled)
    assert load_role("clip", "colors", {"clip.model": tiny_clip_name, "clip.weights": str(tmp_path)}).identity()[
        "weights"]["file"] == "open_clip_pytorch_model.bin"  # a folder: its weights file is found
    with pytest.raises(UnoError, match="clip.model=no-such-model"):
        load_role("clip", "colors", {"clip.model": "no-such-model", "clip.weights": str(pickled)})
