"""The fault table: every fault a user can cause, run through the real CLI entry points in a subprocess.

One row per fault: the command, the setup, the expected exit code (0 ok, 1 partial failure, 2 bad
input or environment, 130 interrupted; docs/faults.md), a fragment of the message, and what must
be intact afterwards. Every row also checks that no traceback is printed unless --debug is given,
and that an error is one line. A new command is covered by adding rows.

Faults a test cannot cause for real (a full disk; a read-only folder, since CI containers run as
root) are injected by faultinject.py, which runs the same entry point with file writes under one
folder made to fail. Everything runs on the shapes-oracle model, or on the embedded tiny checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uno_bench.runs.atomic import png_complete
from uno_bench.runs.records import read_lines

HERE = Path(__file__).resolve().parent
ENTRY = {
    "uno-bench": [sys.executable, "-m", "uno_bench.cli"],
    "uno-train": [sys.executable, "-m", "uno_train.cli"],
    "torchrun-train": [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "-m", "uno_train.cli"],
}
ORACLE = ("--model", "shapes-oracle")
# The post-train every training row starts from (built once per module by the same command).
POST = ("uno-train", "post-train", "--ckpt", "tiny", "--steps", "2", "--batch-size", "2", "--out", "pt")


@dataclass
class Ctx:
    """A row's working folder (also the subprocess cwd), environment, and shared fixtures."""

    tmp: Path
    env: dict[str, str]
    shared: Callable[[str], Path]  # shared resource ("post_trained") -> its folder, built once
    background: list[subprocess.Popen] = field(default_factory=list)

    def command(self, argv: tuple[str, ...], inject: tuple[str, ...] = ()) -> list[str]:
        entry = ENTRY[argv[0]]
        if inject:  # python faultinject.py KIND DIR [N] MODULE ARGS
            entry = [sys.executable, str(HERE / "faultinject.py"), *inject, entry[-1]]
        return [*entry, *argv[1:]]

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), cwd=self.tmp, env=self.env, capture_output=True, text=True,
                              timeout=300)

    def start(self, *argv: str) -> subprocess.Popen:
        proc = subprocess.Popen(self.command(argv), cwd=self.tmp, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        self.background.append(proc)
        return proc

    def copy_post_trained(self, name: str = "pt", finished: bool = True) -> Path:
        target = self.tmp / name
        shutil.copytree(self.shared("post_trained"), target)
        if not finished:  # as if killed after its last checkpoint, before the result was written
            (target / "post_train.json").unlink()
        return target


@dataclass(frozen=True)
class Fault:
    name: str
    argv: tuple[str, ...]
    code: int
    says: str  # a fragment of stdout + stderr
    setup: Callable[[Ctx], None] | None = None
    intact: Callable[[Ctx, subprocess.CompletedProcess], None] | None = None
    inject: tuple[str, ...] = ()  # faultinject.py arguments
    interrupt_when: Callable[[Ctx], bool] | None = None  # send SIGINT once true


# ------------------------------------------------------------------------------------------ helpers


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_png16_rgb(path: Path, rgb16: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _geneval_rows(path: Path, rows: list[tuple[str, str]]) -> None:
    """A GenEval-format prompts file over shape classes: (class, prompt) per line."""
    path.write_text("".join(json.dumps({"tag": "single_object", "include": [{"class": c, "count": 1}],
                                        "prompt": p}) + "\n" for c, p in rows))


def _unigenbench_csv(path: Path, indices: list[str], prompt: str = "a photo of a red circle") -> None:
    import csv

    dims = json.dumps({"Testpoints": ["Entity Layout - Two-Dimensional Space"], "Testpoint Description": ["x"]})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "prompt_en", "sub_dims_en"])
        for index in indices:
            writer.writerow([index, prompt, dims])


def _records_by_key(run_dir: Path) -> list[dict]:
    return sorted(read_lines(run_dir / "records.jsonl"), key=lambda r: r["key"])


def _resumes_exactly(ctx: Ctx, *argv: str) -> None:
    """Nothing half-written is left; the same command then finishes, equal to an uninterrupted run."""
    run_dir = ctx.tmp / "run"
    assert not list(run_dir.rglob("*.uno-tmp"))
    assert all(png_complete(p) for p in run_dir.rglob("*.png"))
    done = ctx.run(*argv, "--run-dir", "run")
    assert done.returncode == 0, done.stderr
    reference = ctx.run(*argv, "--run-dir", "reference")
    assert reference.returncode == 0, reference.stderr
    assert _records_by_key(run_dir) == _records_by_key(ctx.tmp / "reference")
    assert (run_dir / "summary.json").read_bytes() == (ctx.tmp / "reference" / "summary.json").read_bytes()


def _unchanged(name: str) -> tuple[Callable[[Ctx], None], Callable[[Ctx, subprocess.CompletedProcess], None]]:
    """(setup, intact) pair around a copied post-train folder: not one byte of it may change."""
    before: dict[str, dict[str, bytes]] = {}

    def setup(ctx: Ctx, finished: bool) -> None:
        before[str(ctx.tmp)] = _snapshot(ctx.copy_post_trained(name, finished))

    def intact(ctx: Ctx, _done) -> None:
        assert _snapshot(ctx.tmp / name) == before[str(ctx.tmp)]

    return setup, intact


_FIN_SETUP, _FIN_INTACT = _unchanged("pt")


def _finished(ctx: Ctx) -> None:
    _FIN_SETUP(ctx, True)


def _unfinished(ctx: Ctx) -> None:
    _FIN_SETUP(ctx, False)


def _pickled_optimizer(ctx: Ctx) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    out = ctx.copy_post_trained("pt", finished=False)
    latest = out / (out / "latest").read_text().strip()
    (latest / "optimizer.pt").write_bytes(pickle.dumps(Evil()))


def _captions(ctx: Ctx, good: int, bad: int) -> None:
    Image.new("RGB", (64, 64), (200, 30, 30)).save(ctx.tmp / "good.png")
    lines = [{"image": "good.png", "captions": ["a red square"]}] * good
    lines += [{"image": f"missing{i}.png", "captions": ["a blue circle"]} for i in range(bad)]
    (ctx.tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def _holding_lock(ctx: Ctx) -> None:
    ctx.start("uno-bench", "run", "shapes", *ORACLE, "--images-per-prompt", "40", "--run-dir", "run")
    lock = ctx.tmp / "run" / ".uno-lock.rank-00000"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().strip()):
        assert ctx.background[0].poll() is None, ctx.background[0].stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _pngs(ctx: Ctx, at_least: int) -> bool:
    return len(list((ctx.tmp / "run").rglob("*.png"))) >= at_least


def _legacy(ctx: Ctx, finished: bool) -> None:
    """A folder made before uno_train.json existed: judged by post_train.json or trainer_state.json."""
    (ctx.copy_post_trained("pt", finished) / "uno_train.json").unlink()


def _legacy_finished(ctx: Ctx) -> None:
    _legacy(ctx, True)


def _legacy_unfinished(ctx: Ctx) -> None:
    _legacy(ctx, False)


def _other_base(ctx: Ctx) -> None:
    _finished(ctx)
    shutil.copytree(ctx.tmp / "pt", ctx.tmp / "pt2")


# --------------------------------------------------------------------------------------------- rows

RUN = ("uno-bench", "run", "shapes", *ORACLE)

FAULTS: list[Fault] = [
    # ---- uno-bench: bad names, options and checkpoints (these already behaved; they must stay so)
    Fault("bad suite name: did you mean", ("uno-bench", "run", "genevl", *ORACLE), 2, "did you mean 'geneval'"),
    Fault("unknown model", ("uno-bench", "run", "shapes", "--model", "nosuch"), 2, "unknown model 'nosuch'"),
    Fault("no model", ("uno-bench", "run", "shapes"), 2, "say which model to run"),
    Fault("checkpoint folder missing", ("uno-bench", "run", "shapes", "--ckpt", "nowhere"), 2,
          "checkpoint folder not found"),
    Fault("wrong checkpoint folder", ("uno-bench", "run", "shapes", "--ckpt", "empty"), 2,
          "llm_config.json is missing", setup=lambda c: (c.tmp / "empty").mkdir()),
    Fault("limit 0", (*RUN, "--limit", "0"), 2, "--limit must be at least 1"),
    Fault("unknown stage", (*RUN, "--stage", "judge"), 2, "unknown stage(s) judge"),
    Fault("bad --cfg-interval", (*RUN, "--cfg-interval", "0.4"), 2, "--cfg-interval must look like LO,HI"),
    Fault("--model-option without =", (*RUN, "--model-option", "x"), 2, "--model-option expects key=value"),
    Fault("misspelt judge option", (*RUN, "--limit", "1", "--judge-option", "threshhold=0.3"), 2,
          "did you mean 'threshold'"),
    Fault("prompts file missing", (*RUN, "--prompts-file", "none.jsonl"), 2, "does not exist"),
    Fault("prompts file: malformed line", (*RUN, "--prompts-file", "p.jsonl"), 2, "p.jsonl:2: not a JSON line",
          setup=lambda c: (c.tmp / "p.jsonl").write_text('{"prompt": "a circle", "tag": "x", "include": []}\n{oops\n')),
    Fault("score: nothing named", ("uno-bench", "score", "shapes"), 2, "--run-dir DIR or --images DIR"),
    Fault("score: --images not a folder", ("uno-bench", "score", "shapes", "--images", "nowhere"), 2,
          "is not a folder"),
    Fault("summarize: not a run dir", ("uno-bench", "summarize", "."), 2, "is not a uno run dir"),
    Fault("run dir made with other settings", (*RUN, "--limit", "2", "--run-dir", "run"), 2,
          "made with different settings (suite.limit: 1 -> 2",
          setup=lambda c: c.run(*RUN, "--limit", "1", "--run-dir", "run"),
          intact=lambda c, _: len(list(read_lines(c.tmp / "run" / "records.jsonl"))) == 4),
    Fault("manifest not JSON", (*RUN, "--limit", "1", "--run-dir", "run"), 2, "is not valid JSON",
          setup=lambda c: ((c.tmp / "run").mkdir(), (c.tmp / "run" / "manifest.json").write_text("{"))),
    Fault("edit: image missing", ("uno-bench", "edit", "--ckpt", "tiny", "--image", "no.png", "--instruction", "x",
                                  "--out", "o.png"), 2, "image not found: no.png"),
    Fault("edit: not an image", ("uno-bench", "edit", "--ckpt", "tiny", "--image", "t.png", "--instruction", "x",
                                 "--out", "o.png"), 2, "cannot read image t.png",
          setup=lambda c: (c.tmp / "t.png").write_text("not a picture")),
    Fault("edit: truncated PNG", ("uno-bench", "edit", "--ckpt", "tiny", "--image", "cut.png", "--instruction", "x",
                                  "--out", "o.png"), 2, "cannot read image cut.png",
          setup=lambda c: (Image.new("RGB", (64, 64), "red").save(c.tmp / "full.png"),
                           (c.tmp / "cut.png").write_bytes((c.tmp / "full.png").read_bytes()[:60]))),
    Fault("generate: bad --size", ("uno-bench", "generate", "--ckpt", "tiny", "--prompt", "a", "--size", "10",
                                   "--out", "o.png"), 2, "--size must look like WIDTHxHEIGHT"),
    Fault("generate: no prompt", ("uno-bench", "generate", "--ckpt", "tiny", "--out", "o.png"), 2,
          "give at least one --prompt"),
    # ---- issue 15, item 1: a read-only --out folder (refused before the model runs)
    Fault("generate: read-only --out", ("uno-bench", "generate", "--ckpt", "tiny", "--prompt", "a red circle",
                                        "--out", "ro/x.png"), 2, "cannot write to ro: Permission denied",
          setup=lambda c: (c.tmp / "ro").mkdir(mode=0o555), inject=("readonly", "ro"),
          intact=lambda c, _: not list((c.tmp / "ro").iterdir())),
    # ---- item 2: the disk fills while a run writes images: one line; nothing half-written; exact resume
    Fault("run: disk full", (*RUN, "--limit", "5", "--run-dir", "run"), 2, "No space left on device",
          setup=lambda c: (c.tmp / "run").mkdir(), inject=("full", "run", "8"),
          intact=lambda c, _: _resumes_exactly(c, *RUN, "--limit", "5")),
    Fault("score: disk full", (*RUN, "--limit", "5", "--stage", "score", "--stage", "summarize", "--run-dir", "run"),
          2, "No space left on device", inject=("full", "run", "1"),
          setup=lambda c: c.run(*RUN, "--limit", "5", "--stage", "generate", "--run-dir", "run"),
          intact=lambda c, _: _resumes_exactly(c, *RUN, "--limit", "5")),
    # ---- item 3: Ctrl-C, with and without --debug, in uno-bench run and uno-train
    Fault("run: Ctrl-C", (*RUN, "--limit", "10", "--images-per-prompt", "10", "--run-dir", "run"), 130,
          "interrupted; rerun the same command to resume", interrupt_when=lambda c: _pngs(c, 5),
          intact=lambda c, _: _resumes_exactly(c, *RUN, "--limit", "10", "--images-per-prompt", "10")),
    Fault("run --debug: Ctrl-C", ("uno-bench", "--debug", "run", "shapes", *ORACLE, "--images-per-prompt", "20",
                                  "--run-dir", "run"), 130, "interrupted", interrupt_when=lambda c: _pngs(c, 5)),
    Fault("post-train: Ctrl-C", ("uno-train", "post-train", "--ckpt", "tiny", "--steps", "500", "--batch-size", "1",
                                 "--out", "pt"), 130, "interrupted; rerun the same command to resume",
          interrupt_when=lambda c: (c.tmp / "pt" / "metrics.jsonl").exists(),  # opened as training starts
          intact=lambda c, _: (c.tmp / "pt" / "uno_train.json").exists()),
    # ---- item 4: a 16-bit PNG given to edit is scaled, not clipped (per-mode checks: tests/test_images.py)
    Fault("edit: 16-bit PNG", ("uno-bench", "edit", "--ckpt", "tiny", "--image", "deep.png", "--instruction",
                               "make it red", "--steps", "2", "--out", "e.png"), 0, "e.png",
          setup=lambda c: _write_png16_rgb(c.tmp / "deep.png", np.full((64, 64, 3), 20000, np.uint16)),
          intact=lambda c, _: Image.open(c.tmp / "e.png").size == (64, 64)),
    # ---- item 5: a bad id in a suite row is refused with its line, the rest of the run goes on (exit 1)
    Fault("unigenbench row id ../../x", ("uno-bench", "run", "unigenbench", *ORACLE, "--prompts-file", "u.csv",
                                         "--images-per-prompt", "1", "--stage", "generate", "--run-dir", "run"), 1,
          "u.csv line 3: id '../../x' contains a path separator",
          setup=lambda c: _unigenbench_csv(c.tmp / "u.csv", ["1", "../../x"]),
          intact=lambda c, _: not (c.tmp / "x").exists() and not (c.tmp.parent / "x").exists()),
    Fault("unigenbench row: missing columns", ("uno-bench", "run", "unigenbench", *ORACLE, "--prompts-file", "u.csv"),
          2, "expected columns index, prompt_en, sub_dims_en",
          setup=lambda c: (c.tmp / "u.csv").write_text("id,prompt\n1,a\n")),
    # ---- judge endpoint faults: a missing key is one line; an unreachable endpoint leaves images unscored
    Fault("judge: API key missing", ("uno-bench", "run", "unigenbench", *ORACLE, "--prompts-file", "u.csv",
                                     "--images-per-prompt", "1", "--judge", "gemini-2.5-pro", "--run-dir", "run"), 2,
          "needs an API key in $GEMINI_API_KEY", setup=lambda c: (c.env.pop("GEMINI_API_KEY", None),
                                                                  _unigenbench_csv(c.tmp / "u.csv", ["1"]))),
    Fault("judge: endpoint unreachable", ("uno-bench", "run", "unigenbench", *ORACLE, "--prompts-file", "u.csv",
                                          "--images-per-prompt", "1", "--judge", "openai", "--judge-option",
                                          "base_url=http://127.0.0.1:9/v1", "--judge-option", "model=m",
                                          "--judge-option", "retries=0", "--run-dir", "run"), 1,
          "1 image(s) unscored (reasons: unscored_reason in run/records.jsonl)",
          setup=lambda c: _unigenbench_csv(c.tmp / "u.csv", ["1"]),
          intact=lambda c, _: [r["unscored_reason"].startswith("judge failed") for r in
                               read_lines(c.tmp / "run" / "records.jsonl")] == [True]
          and len(list((c.tmp / "run" / "images").glob("*.png"))) == 1),
    # ---- seen in passing: an unknown class is refused before its image is drawn
    Fault("metadata: unknown class", (*RUN, "--prompts-file", "p.jsonl", "--images-per-prompt", "1",
                                      "--run-dir", "run"), 1,
          "p.jsonl line 2: include[0]: class 'hexagon' is not in the detector's vocabulary",
          setup=lambda c: _geneval_rows(c.tmp / "p.jsonl", [("circle", "a photo of a circle"),
                                                            ("hexagon", "a photo of a hexagon")]),
          intact=lambda c, _: [p.parent.parent.name for p in (c.tmp / "run").rglob("*.png")] == ["00000"]),
    # ---- seen in passing: every image failed -> exit 1, with the count and where the reasons are
    Fault("run: every image fails", ("uno-bench", "run", "unigenbench", *ORACLE, "--prompts-file", "u.csv",
                                     "--stage", "generate", "--run-dir", "run"), 1,
          "8 image(s) failed to generate (reasons: run/generate_errors.rank-*.jsonl)",
          setup=lambda c: _unigenbench_csv(c.tmp / "u.csv", ["1", "2"], "a cat on a sofa"),
          intact=lambda c, _: len(list(read_lines(c.tmp / "run" / "generate_errors.rank-00000.jsonl"))) == 8),
    # ---- seen in passing: a prompt beyond the context, unknown words: one warning, counts in the manifest
    Fault("prompt too long / unknown words", ("uno-bench", "run", "shapes", "--ckpt", "tiny", "--prompts-file",
                                              "p.jsonl", "--images-per-prompt", "1", "--num-timesteps", "2",
                                              "--stage", "generate", "--run-dir", "run"), 0,
          "1 of 2 prompt(s) exceed the model's context (1200 > 512 tokens)",
          setup=lambda c: _geneval_rows(c.tmp / "p.jsonl", [("circle", " ".join(["red circle"] * 600)),
                                                            ("circle", "a 🦄 circle")]),
          intact=lambda c, done: (done.stderr.count("warning:") == 1 and json.loads(
              (c.tmp / "run" / "manifest.json").read_text())["prompts"]["too_long"] == 1 and json.loads(
              (c.tmp / "run" / "manifest.json").read_text())["prompts"]["with_unknown_tokens"] == 1)),
    # ---- seen in passing: two processes on one run dir
    Fault("run dir in use", (*RUN, "--images-per-prompt", "40", "--run-dir", "run"), 2,
          "run is in use by uno pid", setup=_holding_lock),
    # ---- seen in passing: both -m forms, also under torchrun
    Fault("python -m uno_train.cli", ("uno-train", "--help"), 0, "post-train"),
    Fault("torchrun -m uno_train.cli", ("torchrun-train", "pretrain", "--help"), 0, "--preset"),
    # ---- uno-train: bad input that already behaved
    Fault("unknown preset", ("uno-train", "pretrain", "--preset", "nosuch", "--out", "o"), 2, "unknown preset 'nosuch'"),
    Fault("unknown proxy", ("uno-train", "post-train", "--ckpt", "tiny", "--proxy", "captoning", "--out", "o"), 2,
          "unknown proxy ['captoning']"),
    Fault("post-train: wrong checkpoint folder", ("uno-train", "post-train", "--ckpt", "empty", "--out", "o"), 2,
          "llm_config.json is missing", setup=lambda c: (c.tmp / "empty").mkdir(),
          intact=lambda c, _: not (c.tmp / "o").exists()),
    Fault("post-train: data file missing", ("uno-train", "post-train", "--ckpt", "tiny", "--data", "no.jsonl",
                                            "--out", "o"), 2, "data file not found", intact=lambda c, _: not (c.tmp / "o").exists()),
    # ---- item 6: bad training records are skipped and counted whatever the batch size; all bad: one line
    Fault("post-train: micro-batch all bad", ("uno-train", "post-train", "--ckpt", "tiny", "--data", "data.jsonl",
                                              "--steps", "2", "--batch-size", "1", "--out", "o"), 0,
          "skipped bad record #1", setup=lambda c: _captions(c, good=1, bad=1),
          intact=lambda c, _: [json.loads(ln)["bad_records"] for ln in
                               (c.tmp / "o" / "metrics.jsonl").read_text().splitlines()] == [1]),
    Fault("post-train: data all bad", ("uno-train", "post-train", "--ckpt", "tiny", "--data", "data.jsonl",
                                       "--steps", "2", "--batch-size", "2", "--out", "o"), 2,
          "none of its 2 record(s) is usable", setup=lambda c: _captions(c, good=0, bad=2),
          intact=lambda c, _: not (c.tmp / "o" / "checkpoints").exists()),
    # ---- item 7: another configuration on an output folder is refused up front, naming the keys
    Fault("post-train: same settings reuse", POST, 0, "already post-trained with these settings; reusing it",
          setup=_finished, intact=_FIN_INTACT),
    Fault("post-train: other --proxy", (*POST, "--proxy", "regression"), 2,
          'uno.proxies: ["captioning", "regression"] -> ["regression"]', setup=_finished, intact=_FIN_INTACT),
    Fault("post-train: other step count", (*POST[:5], "3", *POST[6:]), 2, "train.steps: 2 -> 3",
          setup=_finished, intact=_FIN_INTACT),
    Fault("post-train: other base checkpoint", ("uno-train", "post-train", "--ckpt", "pt2", *POST[4:]), 2,
          "base_checkpoint.", setup=_other_base,
          intact=_FIN_INTACT),
    Fault("post-train unfinished: other --proxy", (*POST, "--proxy", "regression"), 2, "uno.proxies",
          setup=_unfinished, intact=_FIN_INTACT),
    Fault("post-train, older folder: other --proxy", (*POST, "--proxy", "regression"), 2, "uno.proxies",
          setup=_legacy_finished, intact=lambda c, _: not (c.tmp / "pt" / "uno_train.json").exists()),
    Fault("post-train, older unfinished folder: other steps", (*POST[:5], "3", *POST[6:]), 2, "train.steps: 2 -> 3",
          setup=_legacy_unfinished, intact=lambda c, _: not (c.tmp / "pt" / "uno_train.json").exists()),
    Fault("pretrain into a post-train folder", ("uno-train", "pretrain", "--out", "pt", "--scale", "0.001"), 2,
          "pt holds a post-train run", setup=_finished, intact=_FIN_INTACT),
    # ---- item 8: a pickle in place of optimizer.pt
    Fault("resume: foreign pickle", POST, 2, "torch's safe loader refused it", setup=_pickled_optimizer,
          intact=lambda c, done: "pwned" not in done.stdout),
]


_NEEDS_POST_TRAINED = (_finished, _unfinished, _other_base, _pickled_optimizer, _legacy_finished, _legacy_unfinished)


def _post_trained(folder: Path) -> Path:
    """A finished tiny post-train made by the same CLI command the training rows use."""
    env = _env(folder)
    done = subprocess.run([*ENTRY["uno-train"], *POST[1:]], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "pt"


def _env(tmp: Path) -> dict[str, str]:
    from conftest import REPO

    env = {k: v for k, v in os.environ.items() if k not in ("UNO_DATA_DIR", "UNO_DEBUG", "WORLD_SIZE", "RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["UNO_CACHE_DIR"] = str(tmp / "cache")
    env["COLUMNS"] = "200"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _execute(ctx: Ctx, fault: Fault) -> subprocess.CompletedProcess:
    cmd = ctx.command(fault.argv, fault.inject)
    if fault.interrupt_when is None:
        return subprocess.run(cmd, cwd=ctx.tmp, env=ctx.env, capture_output=True, text=True, timeout=300)
    proc = subprocess.Popen(cmd, cwd=ctx.tmp, env=ctx.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not fault.interrupt_when(ctx):
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _check(ctx: Ctx, fault: Fault) -> None:
    """Set up, run, and check one row; raises AssertionError naming what went wrong."""
    try:
        if fault.setup:
            fault.setup(ctx)
        done = _execute(ctx, fault)
        output = done.stdout + done.stderr
        assert done.returncode == fault.code, output[-3000:]
        assert fault.says in output, output[-3000:]
        if "--debug" not in fault.argv:
            assert "Traceback" not in output, output[-3000:]
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) <= 1 and all(len(ln) < 1000 for ln in errors), done.stderr
        if fault.code == 2:  # an error is its own single line on stderr
            assert len(errors) == 1 and fault.says in errors[0], done.stderr
        if fault.intact:
            assert fault.intact(ctx, done) is not False, f"not intact after: {output[-3000:]}"
    finally:
        for proc in ctx.background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, BaseException | None]:
    """Every selected row, run a few at a time (each is one mostly single-threaded subprocess chain),
    so the table stays fast; each row's test then reports its own outcome."""
    selected = [item.callspec.params["fault"] for item in request.session.items
                if item.module is sys.modules[__name__] and hasattr(item, "callspec")]
    # The rows that copy a finished post-train run last; it is built meanwhile, once.
    selected.sort(key=lambda f: f.setup in _NEEDS_POST_TRAINED)
    with ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2))) as pool:
        shared = {}
        if any(f.setup in _NEEDS_POST_TRAINED for f in selected):
            shared["post_trained"] = pool.submit(_post_trained, tmp_path_factory.mktemp("post_trained"))

        def one(fault: Fault) -> BaseException | None:
            tmp = tmp_path_factory.mktemp("fault")
            try:
                _check(Ctx(tmp, _env(tmp), lambda name: shared[name].result()), fault)
            except BaseException as exc:  # noqa: BLE001 - reported by the row's own test
                return exc
            return None

        return dict(zip([f.name for f in selected], pool.map(one, selected)))


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault(fault: Fault, outcomes: dict[str, BaseException | None]) -> None:
    problem = outcomes[fault.name]
    if problem is not None:
        raise problem
