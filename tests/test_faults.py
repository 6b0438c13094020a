"""Faults lose nothing: SIGKILL at random moments, NaNs, exploding gradients, full disks."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from states import assert_same_state

import sagan.training.checkpoint as checkpoint_module
import sagan.training.steps as steps_module
from sagan.cli import main
from sagan.errors import SaganError
from sagan.training.checkpoint import list_checkpoints, load_checkpoint
from sagan.training.loop import train

# ---------------------------------------------------------------------------------------
# SIGKILL harness


def _run_args(out: Path, steps: int) -> list[str]:
    return [
        "train",
        "--steps",
        str(steps),
        "--batch",
        "8",
        "--out",
        str(out),
        "--ckpt-every",
        "1",
        "--sample-every",
        "1000",
        "--log-every",
        "1",
        "--no-tensorboard",
        "--device",
        "cpu",
    ]


def _launch(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sagan", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _wait_for_new_step(proc: subprocess.Popen, stats: Path, timeout: float = 120) -> bool:
    """Wait until the process logs a step it had not logged when it started."""
    before = stats.stat().st_size if stats.exists() else 0
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if stats.exists() and stats.stat().st_size > before:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_at_ten_random_moments_resumes_to_the_same_parameters(tmp_path):
    steps = 60
    reference = _launch(_run_args(tmp_path / "ref", steps))
    assert reference.wait(timeout=600) == 0, reference.stderr.read()[-2000:]
    (ref_run,) = (tmp_path / "ref").iterdir()

    out = tmp_path / "killed"
    run = out / "00000-digits-digits"
    rng = random.Random(1234)
    kills = 0
    proc = _launch(_run_args(out, steps))
    while kills < 10:
        if not _wait_for_new_step(proc, run / "stats.jsonl"):
            break  # the run finished before ten kills
        time.sleep(rng.uniform(0.0, 0.4))  # anywhere in a step, checkpoint writes included
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        for path in list_checkpoints(run):  # every checkpoint on disk loads
            load_checkpoint(path)
        proc = _launch(["train", "--resume", str(run)])
    assert kills >= 8, "the harness should kill a running training at least 8 times"

    # Ctrl-C (SIGINT) writes a final checkpoint and exits cleanly.
    if _wait_for_new_step(proc, run / "stats.jsonl"):
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
        proc = _launch(["train", "--resume", str(run)])
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    assert not list((run / "checkpoints").glob(".tmp-*"))
    assert_same_state(
        load_checkpoint(list_checkpoints(run)[-1]), load_checkpoint(list_checkpoints(ref_run)[-1])
    )


# ---------------------------------------------------------------------------------------
# Divergence: roll back, and stop after repeated failures


def _nan_on_calls(monkeypatch, calls: set[int] | None) -> None:
    """Make d_hinge_loss_real return NaN on the given call numbers (None: from call 3 on)."""
    real = steps_module.d_hinge_loss_real
    count = [0]

    def patched(logits):
        count[0] += 1
        loss = real(logits)
        bad = count[0] >= 3 if calls is None else count[0] in calls
        return loss * float("nan") if bad else loss

    monkeypatch.setattr(steps_module, "d_hinge_loss_real", patched)


def test_a_nan_loss_rolls_back_to_the_last_checkpoint(monkeypatch, tiny_train_config):
    _nan_on_calls(monkeypatch, {4})
    run = train(tiny_train_config(steps=6, ckpt_every=2), quiet=True)
    log = (run / "log.txt").read_text()
    assert "d_loss is nan at step 4; rolled back to ckpt-00000002.pt" in log
    final = load_checkpoint(list_checkpoints(run)[-1])
    assert final["step"] == 6
    assert final["data_pos"] == 8 * 8  # 3 + 1 failed + 4 replayed steps: no batch read twice
    assert all(torch.isfinite(v).all() for v in final["G"].values() if v.is_floating_point())


def test_repeated_divergence_stops_with_the_reason(monkeypatch, tiny_train_config):
    _nan_on_calls(monkeypatch, None)
    with pytest.raises(SaganError, match=r"diverged 4 times in a row .*d_loss is nan"):
        train(tiny_train_config(steps=6, ckpt_every=2, max_rollbacks=3), quiet=True)


def test_a_nan_between_reads_never_reaches_a_checkpoint(monkeypatch, tiny_train_config):
    """The guard's verdicts are read on log and checkpoint steps only: a NaN at step 2 is
    found at step 4, before its checkpoint, and the run goes back to step 0."""
    _nan_on_calls(monkeypatch, {2})
    cfg = tiny_train_config(steps=8, ckpt_every=4, log_every=4, sample_every=4, keep_ckpts=10)
    run = train(cfg, quiet=True)
    log = (run / "log.txt").read_text()
    assert "d_loss is nan at step 2; rolled back to ckpt-00000000.pt" in log
    steps = [load_checkpoint(p)["step"] for p in list_checkpoints(run)]
    assert steps == [0, 4, 8]
    for path in list_checkpoints(run):
        state = load_checkpoint(path)
        for net in ("G", "D"):
            assert all(
                torch.isfinite(v).all() for v in state[net].values() if v.is_floating_point()
            )
        for st in state["opt_d"]["state"].values():
            assert all(torch.isfinite(v).all() for v in st.values())
    rows = [r for r in (run / "stats.jsonl").read_text().splitlines() if '"d_loss"' in r]
    assert all("NaN" not in r for r in rows)  # no logged row comes from the bad steps


def test_steps_between_reads_never_wait_for_the_device(monkeypatch, tiny_train_config):
    """Count the host reads of tensors (item, tolist, bool, float, int, numpy) that the
    training code makes in each step: on a GPU each is a sync. Steps that neither log,
    sample nor checkpoint make none."""
    import sagan.training.trainer as trainer_module

    here = str(Path(steps_module.__file__).parent.parent)  # src/sagan
    reads, per_step = [0], []

    def counting(name):
        real = getattr(torch.Tensor, name)

        def wrapper(self, *a, **kw):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(here) and "/data/" not in caller:
                reads[0] += 1
            return real(self, *a, **kw)

        return wrapper

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    real_g_step = trainer_module.g_step

    def g_step(*a, **kw):
        out = real_g_step(*a, **kw)
        per_step.append(reads[0])
        return out

    monkeypatch.setattr(trainer_module, "g_step", g_step)
    cfg = tiny_train_config(
        steps=12,
        log_every=6,
        ckpt_every=12,
        sample_every=12,
        ema=True,
        lecam=0.3,
        diffaugment="color,translation,cutout",
        ada_target=0.6,
    )
    train(cfg, quiet=True)
    # per_step[i] counts the reads up to the end of step i + 1's G phase; the difference
    # between two steps is what the step in between read (its log and checkpoint included).
    between = [b - a for a, b in zip(per_step, per_step[1:])]  # steps 2..12
    quiet_steps = [d for s, d in zip(range(2, 13), between) if s - 1 not in (6, 12)]
    assert quiet_steps == [0] * len(quiet_steps), between
    assert between[5] > 0  # step 6 logs: it reads the verdicts and the losses


def test_exploding_gradients_are_caught_before_the_update(tiny_train_config):
    cfg = tiny_train_config(steps=3, grad_limit=1e-6, max_rollbacks=1)
    with pytest.raises(SaganError, match="gradient norm of d_loss"):
        train(cfg, quiet=True)
    (run,) = Path(cfg.out).iterdir()
    (only,) = list_checkpoints(run)  # the step-0 state is still what is on disk
    assert load_checkpoint(only)["step"] == 0


# ---------------------------------------------------------------------------------------
# Full disk, read-only folder


def _fail_on_save(monkeypatch, nth: int, err: OSError) -> None:
    real = checkpoint_module.torch.save
    count = [0]

    def patched(obj, f, *a, **kw):
        count[0] += 1
        if count[0] >= nth:
            f.write(b"partial")
            raise err
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(checkpoint_module.torch, "save", patched)


def test_full_disk_keeps_the_previous_checkpoint(monkeypatch, tiny_train_config):
    _fail_on_save(monkeypatch, 3, OSError(errno.ENOSPC, "No space left on device"))
    cfg = tiny_train_config(steps=6, ckpt_every=2)
    with pytest.raises(SaganError, match="disk is full; the previous checkpoint ckpt-00000002"):
        train(cfg, quiet=True)
    (run,) = Path(cfg.out).iterdir()
    names = [p.name for p in list_checkpoints(run)]
    assert names == ["ckpt-00000000.pt", "ckpt-00000002.pt"]
    assert load_checkpoint(run / "checkpoints" / names[-1])["step"] == 2
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_read_only_folder_is_one_line_with_status_2(monkeypatch, tmp_path, capsys):
    _fail_on_save(monkeypatch, 2, OSError(errno.EROFS, "Read-only file system"))
    argv = ["train", "--steps", "4", "--batch", "8", "--ckpt-every", "2", "--out", str(tmp_path)]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    last = err.splitlines()[-1]  # after the progress bar
    assert last.startswith("error: cannot write checkpoint") and "read-only" in last
    assert "--resume" in last


def test_full_disk_while_writing_samples(monkeypatch, tiny_train_config):
    import sagan.training.report as report_module

    def no_space(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module, "save_sample_grid", no_space)
    with pytest.raises(SaganError, match="No space left on device.*checkpoint is intact"):
        train(tiny_train_config(steps=4), quiet=True)
