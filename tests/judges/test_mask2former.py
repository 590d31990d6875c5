"""GenEval's detector: mmdet's test pipeline and instance post-processing, the detector on a random
tiny Mask2Former, both weight sources and the options."""

# ruff: noqa: F811 - the fixtures imported from tiny_judges are used as test arguments

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_judges import TINY_CLASSES, tiny_m2f, tiny_m2f_folder, tiny_mmdet_pth  # noqa: F401 (fixtures)

from uno_bench.errors import UnoError
from uno_bench.judges import mask2former_pipeline as pipe
from uno_bench.judges.mask2former import Mask2FormerDetector, load_judge
from uno_bench.judges.registry import load_role


def rgb_image(height: int, width: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def stripes(height: int, width: int) -> Image.Image:
    """Flat regions, so that even random weights give masks that follow them."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[:, : width // 7] = (20, 40, 200)
    arr[:, 2 * width // 5 : 2 * width // 3] = (250, 240, 20)
    return Image.fromarray(arr)


# ------------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(("size", "expected"), [
    ((1024, 1024), (800, 800)),  # BAGEL's size: shrunk
    ((512, 512), (800, 800)),  # Stable Diffusion's: enlarged
    ((640, 480), (1067, 800)),  # short side reaches 800 first: 640 * 5/3 = 1066.67 -> 1067
    ((2000, 300), (1333, 200)),  # long side reaches 1333 first: 300 * 0.6665 = 199.95 -> 200
])
def test_resize_keeps_ratio_within_1333_by_800(size, expected):
    assert pipe.rescaled_size(*size) == expected


def bilinear_reference(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel-centre bilinear sampling, edge-clamped (cv2.INTER_LINEAR's formula), per channel."""

    def taps(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(out) + 0.5) * size / out - 0.5, 0, None)
        lo = np.minimum(np.floor(src).astype(int), size - 1)
        return lo, np.minimum(lo + 1, size - 1), src - lo

    y0, y1, fy = taps(out_h, img.shape[0])
    x0, x1, fx = taps(out_w, img.shape[1])
    img = img.astype(np.float64)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bottom = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def test_resize_is_bilinear_with_half_pixel_centres_rounded_to_8_bits():
    arr = np.asarray(rgb_image(9, 13, seed=1))
    for out_h, out_w in ((20, 31), (5, 6)):
        got = pipe.resize_8bit(torch.from_numpy(arr.copy()).permute(2, 0, 1).float(), (out_h, out_w))
        exact = bilinear_reference(arr, out_h, out_w)
        clear = np.abs(exact - np.floor(exact) - 0.5) > 1e-3  # float32 may round either way at .5
        assert np.array_equal(got.permute(1, 2, 0).numpy()[clear], np.floor(exact + 0.5)[clear])
        assert clear.mean() > 0.95


def test_preprocess_pads_with_128_then_normalises_in_rgb_order():
    red = Image.new("RGB", (640, 480), (255, 0, 0))
    prepared = pipe.preprocess(red)
    assert prepared.ori_shape == (480, 640) and prepared.img_shape == (800, 1067)
    assert prepared.batch_input_shape == (800, 1088)  # 1067 padded up to a multiple of 32
    px = prepared.pixel_values[0]
    mean, std = torch.tensor(pipe.MEAN_RGB), torch.tensor(pipe.STD_RGB)
    torch.testing.assert_close(px[:, 10, 10], (torch.tensor([255.0, 0, 0]) - mean) / std)
    torch.testing.assert_close(px[:, 10, 1080], (128 - mean) / std)  # padding: raw 128, normalised
    square = pipe.preprocess(rgb_image(1024, 1024))
    assert square.batch_input_shape == (800, 800) and square.img_shape == (800, 800)


# ------------------------------------------------------------------------------ post-processing


def test_masks_to_boxes_is_the_tight_box_plus_one_and_zero_when_empty():
    masks = torch.zeros(3, 6, 8, dtype=torch.bool)
    masks[0, 2:4, 1:6] = True
    masks[1, 5, 7] = True
    assert pipe.masks_to_boxes(masks).tolist() == [[1, 2, 6, 4], [7, 5, 8, 6], [0, 0, 0, 0]]


def test_upsampling_reaches_the_original_size():
    logits = torch.full((2, 8, 10), 3.0)
    out = pipe.upsample_mask_logits(logits, (32, 40), (30, 37), (45, 50))
    assert out.shape == (2, 45, 50) and torch.allclose(out, torch.full_like(out, 3.0))


def test_instance_postprocess_scores_masks_and_top_k():
    """Three queries, two classes; masks given at full resolution so the resizes are identities."""
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.05, 0.05, 0.9]])
    logits = probs.log()  # softmax(log p) = p
    masks = torch.full((3, 6, 8), -4.0)
    masks[0, 1:3, 2:5] = 2.0  # q0: a 2x3 block at sigmoid(2)
    masks[1, 4:6, 0:2] = 1.0  # q1: a 2x2 block at sigmoid(1)
    shape = (6, 8)
    found = pipe.instance_postprocess(logits, masks, shape, shape, shape, max_per_image=6)
    got = {(int(q), int(c)): float(s) for q, c, s in
           zip(found.mask_index, found.labels, found.scores)}  # mask_index = query here
    sig = torch.sigmoid
    assert got[(0, 0)] == pytest.approx(0.7 * float(sig(torch.tensor(2.0))), rel=1e-5)
    assert got[(1, 1)] == pytest.approx(0.6 * float(sig(torch.tensor(1.0))), rel=1e-5)
    assert got[(2, 0)] == pytest.approx(0.0, abs=1e-4)  # empty mask: mask score 0
    boxes = {int(q): b for q, b in zip(found.mask_index, found.boxes.tolist())}
    assert boxes[0] == [2, 1, 5, 3] and boxes[1] == [0, 4, 2, 6] and boxes[2] == [0, 0, 0, 0]
    assert found.masks[0].sum() == 6 and found.masks.dtype == torch.bool
    # top-k is over (query, class) pairs by class probability alone
    top2 = pipe.instance_postprocess(logits, masks, shape, shape, shape, max_per_image=2)
    assert sorted(zip(top2.mask_index.tolist(), top2.labels.tolist())) == [(0, 0), (1, 1)]


# ---------------------------------------------------------------------------------- detector


# Wide images keep the tiny model cheap: mmdet's resize brings the long side to 1333 and the short
# one to only ~90 pixels.
def test_detector_returns_every_kept_pair_with_its_mask_and_tight_box(tiny_m2f):
    det = Mask2FormerDetector(tiny_m2f, {"source": "test"})
    image = stripes(10, 150)
    found = det.detect(image, TINY_CLASSES)
    assert len(found) == 6 * len(TINY_CLASSES)  # every (query, class) pair: fewer than max_per_image
    assert {d.label for d in found} == set(TINY_CLASSES)
    for d in found:
        assert d.mask.shape == (10, 150) and d.mask.dtype == bool and 0.0 <= d.score <= 1.0
        ys, xs = np.nonzero(d.mask)
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if len(xs) else (0, 0, 0, 0)
        assert d.box == tuple(float(v) for v in box)
    assert any(d.box != (0.0, 0.0, 150.0, 10.0) for d in found)  # some masks are partial
    again = det.detect(image, TINY_CLASSES)
    assert [(d.label, d.score, d.box) for d in again] == [(d.label, d.score, d.box) for d in found]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(found, again))
    assert len(Mask2FormerDetector(tiny_m2f, {}, max_per_image=7).detect(image, TINY_CLASSES)) == 7
    with pytest.raises(ValueError, match="5 classes but the suite's vocabulary has 80"):
        det.detect(image, [f"c{i}" for i in range(80)])


def test_swin_windows_never_shrink_on_small_maps(tiny_m2f_folder):
    from uno_bench.judges.mask2former import load_transformers_folder

    layers = [m for m in load_transformers_folder(tiny_m2f_folder).modules() if type(m).__name__ == "SwinLayer"]
    assert len(layers) == 8
    for layer in layers:
        shift = layer.shift_size
        layer.set_shift_and_window_size((3, 40))  # what transformers calls on a 3-token-high map
        assert layer.window_size == 7 and layer.shift_size == shift


def test_both_weight_sources_give_the_same_detections(tiny_m2f_folder, tiny_mmdet_pth, tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_CACHE_DIR", str(tmp_path))
    image = rgb_image(9, 140, seed=3)
    from_hf = load_judge("detector", {"mask2former.weights": str(tiny_m2f_folder), "device": "cpu"})
    from_mmdet = load_role("mmdet", "detector", {"mmdet.weights": str(tiny_mmdet_pth), "clip.weights": "x"})
    a, b = from_hf.detect(image, TINY_CLASSES), from_mmdet.detect(image, TINY_CLASSES)
    assert [(d.label, d.score, d.box) for d in a] == [(d.label, d.score, d.box) for d in b]
    ident = from_mmdet.identity()
    assert ident["weights"]["source"] == "mmdet" and ident["weights"]["official"] is False
    assert len(ident["weights"]["sha256"]) == 64 and ident["pipeline"]["max_per_image"] == 100
    assert from_hf.identity()["weights"]["source"] == "transformers"
    cached = list((tmp_path / "judges" / "converted").iterdir())
    assert len(cached) == 1 and (cached[0] / "model.safetensors").is_file()
    stamp = (cached[0] / "model.safetensors").stat().st_mtime_ns
    load_judge("detector", {"mask2former.weights": str(tiny_mmdet_pth)})  # reuses the conversion
    assert (cached[0] / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_transformers_folder_must_fit_the_model_exactly(tiny_m2f_folder, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from uno_bench.judges.mask2former import load_transformers_folder

    state = load_file(str(tiny_m2f_folder / "model.safetensors"))
    for name, drop in (("no-empty-weight", "criterion.empty_weight"), ("no-class-head", "class_predictor.bias")):
        folder = tmp_path / name
        shutil.copytree(tiny_m2f_folder, folder)
        save_file({k: v for k, v in state.items() if k != drop}, str(folder / "model.safetensors"))
        if drop == "criterion.empty_weight":  # training-only, rebuilt from the config: tolerated
            load_transformers_folder(folder)
        else:
            with pytest.raises(UnoError, match="do not fit the model: missing class_predictor.bias"):
                load_transformers_folder(folder)


def test_options_and_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_CACHE_DIR", str(tmp_path))
    with pytest.raises(UnoError, match="mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth.*mask2former.weights=PATH"):
        load_judge("detector", {})
    with pytest.raises(UnoError, match="write mask2former.weights="):
        load_judge("detector", {"weights": "x.pth"})
    with pytest.raises(UnoError, match="has no option 'wieghts'"):
        load_judge("detector", {"mask2former.wieghts": "x.pth"})
    with pytest.raises(UnoError, match="'maskformer' is not a judge name"):
        load_judge("detector", {"maskformer.weights": "x.pth"})
    with pytest.raises(UnoError, match="is a detector"):
        load_judge("colors", {})
    with pytest.raises(UnoError, match="neither config.json"):
        load_judge("detector", {"mask2former.weights": str(tmp_path)})
