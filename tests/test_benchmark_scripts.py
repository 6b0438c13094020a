"""The benchmark scripts run end to end at tiny sizes (their numbers are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sagan.training.loop import train

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str, stderr: list[str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    if stderr is not None:
        stderr.append(done.stderr)
    return done.stdout


def test_digits_diagnosis_splits_the_fid_of_a_run(tiny_train_config):
    run = train(tiny_train_config(tensorboard=False), quiet=True)
    fig = run / "diagnosis.png"
    out = _run("benchmarks/digits_diagnosis.py", str(run), "--figure", str(fig))
    out = out.strip().splitlines()
    assert out[0].startswith("held-out real digits: fid 4.")
    assert out[1].startswith(str(run / "checkpoints" / "ckpt-00000004.pt"))
    line = out[1]
    fid = float(line.split("fid ")[1].split()[0])
    mean = float(line.split("mean term ")[1].split(",")[0])
    cov = float(line.split("covariance term ")[1].split(")")[0])
    assert abs(fid - mean - cov) < 0.02 and "fid_projected" in line
    shares = [float(v) for v in out[2].split("z share per G block: ")[1].split(", ")]
    assert len(shares) == 2 and all(0.0 < v < 1.0 for v in shares)  # the digits G's 2 blocks
    assert out[-1] == f"wrote {fig}" and fig.stat().st_size > 10_000


def test_train_step_reports_model_and_executed_flops(tmp_path):
    path = tmp_path / "t.json"
    argv = [
        "--preset",
        "digits",
        "--batch",
        "4",
        "--device",
        "cpu",
        "--iters",
        "1",
        "--warmup",
        "1",
        "--profile",
    ]
    err: list[str] = []
    out = _run("benchmarks/train_step.py", *argv, "--json", str(path), stderr=err)
    assert "convolutions (forward and backward):" in out
    assert "profiler_start" not in out + err[0]  # the profiler's own notices go to a file
    assert "the profiler's own notices are in" in out
    fast, ref = json.loads(path.read_text())["rows"]
    assert fast["flops_per_iter"] == ref["flops_per_iter"] == ref["executed_flops_per_iter"]
    assert fast["executed_flops_per_iter"] < 0.8 * fast["flops_per_iter"]  # fused resampling


def test_host_syncs_counts_none_on_steps_between_reads(tmp_path):
    path = tmp_path / "s.json"
    out = _run("benchmarks/host_syncs.py", "--device", "cpu", "--steps", "6", "--every", "3",
               "--json", str(path))  # fmt: skip
    assert "steps that neither log nor checkpoint: [0] (want [0])" in out
    result = json.loads(path.read_text())
    assert set(result["quiet_steps"]) == {"1", "2", "4", "5"}  # step 6's reads end the run
    assert set(result["reading_steps"]) == {"3"}
    assert result["reading_steps"]["3"] > 0


def test_train_step_refuses_a_folder_that_is_not_a_studiogan_checkout(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/train_step.py", "--preset", "cifar32", "--batch", "2",
         "--device", "cpu", "--iters", "1", "--warmup", "0", "--studiogan", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    assert "not a PyTorch-StudioGAN checkout" in done.stderr
