"""`uno-bench run / score / summarize` as a user runs them (subprocess, exit codes, one-line errors)."""

from __future__ import annotations

import json
import subprocess

from conftest import uno_cmd


def _uno(env, *args):
    return subprocess.run(uno_cmd(*args), env=env, capture_output=True, text=True)


def test_run_resume_refuse_and_stages_alone(tmp_path, uno_env):
    out = tmp_path / "runs"
    first = _uno(uno_env, "run", "shapes", "--model", "shapes-oracle", "--limit", "3", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "shapes overall = 1.0000  (coverage 12/12 images scored)" in first.stdout
    [run_dir] = (out / "shapes").iterdir()
    assert run_dir.name.startswith("shapes-oracle-")

    again = _uno(uno_env, "run", "shapes", "--model", "shapes-oracle", "--limit", "3", "--out", str(out))
    assert "0 written, 12 already there" in again.stdout and "12 already judged" in again.stdout

    # A different setting goes to its own default dir, and is refused in an existing one.
    other = _uno(uno_env, "run", "shapes", "--model", "shapes-oracle", "--limit", "3", "--out", str(out),
                 "--cfg-text-scale", "5")
    assert other.returncode == 0 and len(list((out / "shapes").iterdir())) == 2
    refused = _uno(uno_env, "run", "shapes", "--model", "shapes-oracle", "--limit", "3", "--run-dir", str(run_dir),
                   "--cfg-text-scale", "5")
    assert refused.returncode == 2
    assert "generation.sampler.cfg_text_scale: 4.0 -> 5.0" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    # The stages one by one give the same summary, byte for byte; score/summarize reuse the run's plan.
    staged = tmp_path / "staged"
    assert _uno(uno_env, "run", "shapes", "--model", "shapes-oracle", "--limit", "3", "--run-dir", str(staged),
                "--stage", "generate").returncode == 0
    assert not (staged / "records.jsonl").exists() and len(list(staged.rglob("*.png"))) == 12
    assert _uno(uno_env, "score", "shapes", "--run-dir", str(staged)).returncode == 0
    (staged / "summary.json").unlink()
    assert _uno(uno_env, "summarize", str(staged)).returncode == 0
    assert (staged / "summary.json").read_bytes() == (run_dir / "summary.json").read_bytes()
    assert (staged / "records.jsonl").read_bytes() == (run_dir / "records.jsonl").read_bytes()


def test_model_failures_do_not_abort_the_run(tmp_path, uno_env, shared_suites):
    """The oracle cannot draw GenEval's COCO prompts: each image fails alone, the run finishes."""
    done = _uno(uno_env, "run", "geneval", "--model", "shapes-oracle", "--limit", "1", "--images-per-prompt", "2",
                "--data-dir", str(shared_suites), "--judge", "shapes-analytic", "--run-dir", str(tmp_path / "r"))
    assert done.returncode == 1, done.stderr  # a partial failure: says how many and where the reasons are
    assert "0 written, 0 already there, 2 failed" in done.stdout and "coverage 0/2" in done.stdout
    assert "2 image(s) failed to generate (reasons: " in done.stderr
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    [reason] = summary["coverage"]["unscored_reasons"]
    assert reason.startswith("image missing (shapes-oracle cannot draw 'a photo of a bench'")
    assert summary["results"]["overall"] is None


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, uno_env):
    cases = [
        (("run", "shapse", "--model", "shapes-oracle"), "unknown suite 'shapse'; did you mean 'shapes'"),
        (("run", "dpg", "--ckpt", "tiny"), "data file dpg_bench/prompts_index.jsonl not found"),
        (("run", "shapes", "--model", "shapes-oracle", "--limit", "0"), "--limit must be at least 1"),
        (("run", "shapes"), "say which model to run"),
        (("run", "shapes", "--model", "shapes-oracle", "--cfg-interval", "0.4"), "--cfg-interval must look like LO,HI"),
        (("run", "shapes", "--model", "shapes-oracle", "--stage", "judge"), "unknown stage(s) judge"),
        (("score", "shapes"), "--run-dir DIR or --images DIR"),
        (("summarize", str(tmp_path)), "is not a uno run dir"),
    ]
    for args, message in cases:
        done = _uno(uno_env, *args, "--out", str(tmp_path)) if args[0] == "run" else _uno(uno_env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)


def test_a_run_dir_from_another_uno_commit_continues_only_with_the_flag(tmp_path, uno_env):
    run_dir = tmp_path / "r"
    base = ("run", "shapes", "--model", "shapes-oracle", "--limit", "2", "--run-dir", str(run_dir))
    assert _uno(uno_env, *base, "--stage", "generate").returncode == 0
    # As if the images were drawn by another uno commit (the run dir outlived a git pull).
    path = run_dir / "manifest.json"
    found = json.loads(path.read_text())
    now = found["environment"]["git_commit"]
    found["environment"]["git_commit"] = "0" * 40
    path.write_text(json.dumps(found))

    refused = _uno(uno_env, "score", "shapes", "--run-dir", str(run_dir))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "environment.git_commit" in refused.stderr and refused.stderr.strip().endswith("--allow-code-change")

    done = _uno(uno_env, *base, "--allow-code-change")
    assert done.returncode == 0, done.stderr
    assert "made with uno commit 000000000000; continuing it under" in done.stderr
    assert "0 written, 8 already there" in done.stdout and "8 scored" in done.stdout
    env = json.loads(path.read_text())["environment"]
    assert env["git_commit"] == "0" * 40
    assert [(e["git_commit"], e["stage"]) for e in env["later_commits"]] == [(now, "generate")]

    # continued under this commit: scoring again needs no flag and records nothing more
    again = _uno(uno_env, "score", "shapes", "--run-dir", str(run_dir))
    assert again.returncode == 0 and "8 already judged" in again.stdout, again.stderr
    assert len(json.loads(path.read_text())["environment"]["later_commits"]) == 1
