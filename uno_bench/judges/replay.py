"""Record a judge's raw outputs once, replay them anywhere (no weights, no GPU).

`Recorder(judge, path)` wraps a real Detector and/or ColorClassifier: it answers exactly like
the judge and appends each raw answer to a JSONL recording. `ReplayJudge(path)` implements both
interfaces from that file; a query that was never recorded raises `ReplayMissError`, an
UnscorableError, so the harness records the sample as unscored with the reason.

File format: JSON Lines, UTF-8, one object per line.

  line 1 (header)  {"format": "uno-judge-recording", "version": 1, "identity": <judge.identity()>}
  detect record    {"op": "detect", "image": <key>, "classes": [str, ...],
                    "detections": [{"label": str, "score": float, "box": [x1, y1, x2, y2],
                                    "mask": <rle> | null}, ...]}
  classify record  {"op": "classify", "image": <key>, "class_name": str, "boxes": [[x1, y1, x2, y2], ...],
                    "masks": [<mask digest> | null, ...], "colors": [str, ...], "result": [str, ...]}

Keys. <key> is `judges.base.image_sha256`: sha256 over "RGB {w}x{h}\n" followed by the image's
decoded RGB pixels, so a PNG on disk and the same picture in memory share a key whatever the
compression. A detect query is (image key, classes in the order asked). A classify query is
(image key, class_name, boxes, mask digests, colours in order); the mask digest is the sha256 of
"{h}x{w}\n" + np.packbits(mask), so two detectors that agree on boxes but not on masks never
share a colour answer. Floats survive JSON exactly (shortest repr), so replayed boxes and scores
are bit-identical. When one query was recorded twice, the last line wins.

Masks are run-length encoded: {"size": [h, w], "counts": [n0, n1, ...]}, row-major (C order),
runs alternating False/True starting with False (n0 may be 0).

Crash safety: each record is one complete line written with a single write, then flushed and
fsync'ed. A crash can only leave a partial last line: readers ignore it and a Recorder opening
the file truncates it before appending. One recording belongs to one judge identity; appending
with a different identity is refused. Use one file per process when recording in parallel.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.base import Detection, UnscorableError, image_sha256

FORMAT = "uno-judge-recording"
VERSION = 1
RECORD_KEY = "record"  # --judge-option record=FILE: record this run's judge answers (every suite)


class ReplayMissError(UnscorableError):
    """The recording holds no answer for this query."""


# ------------------------------------------------------------------------------------- encoding


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    flat = np.asarray(mask, dtype=bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": list(np.shape(mask)), "counts": counts}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    if flat.size != height * width:
        raise ValueError(f"mask RLE covers {flat.size} pixels, expected {height}x{width}")
    return flat.reshape(height, width)


def mask_digest(mask: np.ndarray | None) -> str | None:
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    digest = hashlib.sha256(f"{mask.shape[0]}x{mask.shape[1]}\n".encode())
    digest.update(np.packbits(mask).tobytes())
    return digest.hexdigest()


def _detection_to_json(det: Detection) -> dict[str, Any]:
    return {
        "label": det.label,
        "score": float(det.score),
        "box": [float(v) for v in det.box],
        "mask": None if det.mask is None else rle_encode(det.mask),
    }


def _detection_from_json(obj: dict[str, Any]) -> Detection:
    mask = None if obj["mask"] is None else rle_decode(obj["mask"])
    return Detection(label=obj["label"], score=float(obj["score"]), box=tuple(obj["box"]), mask=mask)


def _detect_key(image: str, classes: Sequence[str]) -> str:
    return json.dumps(["detect", image, list(classes)])


def _classify_key(
    image: str,
    class_name: str,
    boxes: Sequence[Sequence[float]],
    masks: Sequence[str | None],
    colors: Sequence[str],
) -> str:
    return json.dumps(
        ["classify", image, class_name, [[float(v) for v in b] for b in boxes], list(masks), list(colors)]
    )


# ------------------------------------------------------------------------------------------ file


def read_recording(path: Path, fmt: str = FORMAT, version: int = VERSION,
                   ) -> tuple[dict[str, Any] | None, list[tuple[int, dict[str, Any]]]]:
    """Header and complete records of a JSONL recording (`fmt` v`version` in its header line); a
    partial last line (crash mid-write) is ignored. Shared by the detector/colour and VLM recordings."""
    raw = path.read_bytes() if path.exists() else b""
    lines = raw.split(b"\n")[:-1]  # the piece after the last newline is empty or partial
    header = None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnoError(f"{path}:{number}: corrupt recording line ({exc.msg})") from None
        if number == 1:
            if obj.get("format") != fmt:
                raise UnoError(f"{path}: not a judge recording of format {fmt!r} (found {obj.get('format')!r})")
            if obj.get("version") != version:
                raise UnoError(f"{path}: recording version {obj.get('version')} is not supported")
            header = obj
        else:
            records.append((number, obj))
    return header, records


class Recorder:
    """Runs a real judge and appends each of its raw answers to a recording."""

    def __init__(self, judge: Any, path: str | Path):
        self.judge = judge
        self.path = Path(path)
        identity = judge.identity()
        header, _ = read_recording(self.path)
        if header is not None and header["identity"] != json.loads(json.dumps(identity)):
            raise UnoError(f"{self.path} records judge {header['identity']}, not {identity}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_partial_line()
        self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for appends
        if header is None:
            self._append({"format": FORMAT, "version": VERSION, "identity": identity})

    def _truncate_partial_line(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(end)

    def _append(self, obj: dict[str, Any]) -> None:
        line = (json.dumps(obj) + "\n").encode()
        written = self._fh.write(line)
        while written < len(line):  # a raw write may be short; finish the same line
            written += self._fh.write(line[written:])
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> dict[str, Any]:
        return self.judge.identity()  # recording never changes the answers

    def detect(self, image: Image.Image, classes: Sequence[str]) -> list[Detection]:
        detections = self.judge.detect(image, classes)
        self._append(
            {
                "op": "detect",
                "image": image_sha256(image),
                "classes": list(classes),
                "detections": [_detection_to_json(d) for d in detections],
            }
        )
        return detections

    def classify(
        self, image: Image.Image, detections: Sequence[Detection], class_name: str, colors: Sequence[str]
    ) -> list[str]:
        result = self.judge.classify(image, detections, class_name, colors)
        self._append(
            {
                "op": "classify",
                "image": image_sha256(image),
                "class_name": class_name,
                "boxes": [[float(v) for v in d.box] for d in detections],
                "masks": [mask_digest(d.mask) for d in detections],
                "colors": list(colors),
                "result": list(result),
            }
        )
        return result


class ReplayJudge:
    """Detector and ColorClassifier that answer from a recording."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        header, records = read_recording(self.path)
        if header is None:
            raise UnoError(f"{self.path}: no judge recording there (missing or empty file)")
        self.recorded_identity: dict[str, Any] = header["identity"]
        self._answers: dict[str, Any] = {}
        for number, rec in records:
            op = rec.get("op")
            if op == "detect":
                key = _detect_key(rec["image"], rec["classes"])
                self._answers[key] = rec["detections"]
            elif op == "classify":
                key = _classify_key(
                    rec["image"], rec["class_name"], rec["boxes"], rec["masks"], rec["colors"]
                )
                self._answers[key] = rec["result"]
            else:
                raise UnoError(f"{self.path}:{number}: unknown record op {op!r}")

    def __len__(self) -> int:
        return len(self._answers)

    def identity(self) -> dict[str, Any]:
        return {"name": "replay", "recorded": self.recorded_identity}

    def detect(self, image: Image.Image, classes: Sequence[str]) -> list[Detection]:
        key = image_sha256(image)
        answer = self._answers.get(_detect_key(key, classes))
        if answer is None:
            raise ReplayMissError(
                f"no recorded detections for image {key[:16]} ({len(classes)} classes) in {self.path}"
            )
        return [_detection_from_json(obj) for obj in answer]

    def classify(
        self, image: Image.Image, detections: Sequence[Detection], class_name: str, colors: Sequence[str]
    ) -> list[str]:
        key = image_sha256(image)
        query = _classify_key(
            key, class_name, [d.box for d in detections], [mask_digest(d.mask) for d in detections], colors
        )
        answer = self._answers.get(query)
        if answer is None:
            raise ReplayMissError(
                f"no recorded colours for image {key[:16]}, class {class_name!r}, "
                f"{len(detections)} instance(s) in {self.path}"
            )
        return list(answer)


class JudgePair:
    """A detector and a colour judge answering as one judge, so that one recording holds both
    (GenEval-style suites: `--judge-option record=FILE`, replayed with `--judge replay`)."""

    def __init__(self, detector: Any, colors: Any):
        self.detector = detector
        self.colors = colors

    def identity(self) -> dict[str, Any]:
        return {"detector": self.detector.identity(), "colors": self.colors.identity()}

    def detect(self, image: Image.Image, classes: Sequence[str]) -> list[Detection]:
        return self.detector.detect(image, classes)

    def classify(
        self, image: Image.Image, detections: Sequence[Detection], class_name: str, colors: Sequence[str]
    ) -> list[str]:
        return self.colors.classify(image, detections, class_name, colors)


def recording_pair(detector: Any, colors: Any, path: str | Path | None) -> tuple[Any, Any]:
    """(detector, colour judge), both answering through one Recorder appending to `path`; the
    judges unchanged when `path` is empty."""
    if not path:
        return detector, colors
    recorder = Recorder(JudgePair(detector, colors), path)
    return recorder, recorder
