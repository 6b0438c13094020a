"""A few training steps write a complete run folder; resume is bit-identical."""

from __future__ import annotations

import dataclasses
import json

from states import assert_same_state

from sagan.training.checkpoint import list_checkpoints, load_checkpoint
from sagan.training.loop import train


def test_a_few_steps_write_a_complete_run_folder(tiny_train_config):
    cfg = tiny_train_config()
    run = train(cfg, quiet=True)
    assert run.name == "00000-digits-digits"
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["attn_g"] == [8] and config["beta2"] == 0.999
    assert (run / "log.txt").read_text().strip()
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in (
        "d_loss",
        "d_loss_real",
        "d_loss_fake",
        "g_loss",
        "gamma/g.feat8",
        "gamma/d.feat8",
        "sec_per_step",
    ):
        assert key in rows[-1]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-00000002.png",
        "step-00000004.png",
    ]
    ckpts = list_checkpoints(run)
    # Step 0 is saved too: a divergence before the first periodic checkpoint rolls back there.
    assert [p.name for p in ckpts] == ["ckpt-00000000.pt", "ckpt-00000002.pt", "ckpt-00000004.pt"]
    ckpt = load_checkpoint(ckpts[-1])
    for key in ("G", "D", "G_ema", "opt_g", "opt_d", "step", "rng", "config", "format", "version"):
        assert key in ckpt
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 4
    assert 0.0 <= summary["class_accuracy"] <= 1.0
    assert summary["digits_fid"] > summary["digits_fid_real"] > 0
    # The next run gets the next number and never touches this one.
    assert train(dataclasses.replace(cfg, steps=1), quiet=True).name == "00001-digits-digits"


def test_keep_only_the_newest_checkpoints(tiny_train_config):
    run = train(tiny_train_config(steps=6, ckpt_every=1, keep_ckpts=2), quiet=True)
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-00000005.pt", "ckpt-00000006.pt"]


def _final_state(run):
    return load_checkpoint(list_checkpoints(run)[-1])


def test_resume_is_bit_identical_to_an_uninterrupted_run(tiny_train_config, tmp_path):
    for extra in (dict(), dict(ema=True, n_dis=2)):
        full = train(tiny_train_config(out=str(tmp_path / "a"), steps=6, **extra), quiet=True)
        part_cfg = tiny_train_config(out=str(tmp_path / "b"), steps=3, **extra)
        part = train(part_cfg, quiet=True)
        train(dataclasses.replace(part_cfg, steps=6), resume=part, quiet=True)
        assert_same_state(_final_state(full), _final_state(part))
        # The resumed run's log has every step once.
        steps = [json.loads(r)["step"] for r in (part / "stats.jsonl").read_text().splitlines()]
        assert steps == [1, 2, 3, 4, 5, 6]


def test_sigterm_writes_a_final_checkpoint_and_resume_continues(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "sagan",
        "train",
        "--steps",
        "100000",
        "--batch",
        "8",
        "--out",
        str(out),
        "--ckpt-every",
        "100000",
        "--no-tensorboard",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    run = out / "00000-digits-digits"
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and not (run / "stats.jsonl").exists()
        or not (run / "stats.jsonl").read_text()
    ):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "--resume" in err
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts][0] == "ckpt-00000000.pt" and len(ckpts) == 2
    step = load_checkpoint(ckpts[-1])["step"]
    assert step >= 10


def test_the_digits_demo_recipe_and_the_official_flag(tmp_path, monkeypatch):
    """``sagan train`` departs from the official code on digits only, lists how in
    config.json, and ``--official`` gives back today's official recipe exactly."""
    from sagan.cli import build_parser
    from sagan.commands.train import planned_config
    from sagan.config import TrainConfig
    from sagan.presets import PRESETS

    monkeypatch.chdir(tmp_path)

    def planned(*flags: str) -> TrainConfig:
        return planned_config(build_parser().parse_args(["train", *flags]))[0]

    official = TrainConfig(
        model=planned().model,
        preset="digits",
        batch=32,
        steps=2000,
        ckpt_every=500,
        sample_every=250,
    )  # the digits defaults before the demo recipe; every other field the official code's
    assert planned("--official") == official
    assert official.departures() == {}
    demo = planned()
    assert demo.departures() == {
        "ema": True,
        "ema_decay": 0.99,
        "lecam": 0.3,
        "lecam_decay": 0.99,
        "lecam_start": 100,
    }
    assert demo.steps == 6000 and planned("--steps", "10").steps == 10
    for name in PRESETS:
        if name != "digits":
            assert PRESETS[name].recipe == {}
            assert TrainConfig.from_preset(name).departures() == {}
    run = train(dataclasses.replace(demo, steps=1, out=str(tmp_path / "runs")), quiet=True)
    saved = json.loads((run / "config.json").read_text())
    assert saved["departures_from_official"] == demo.departures()
    assert TrainConfig.from_dict(saved) == dataclasses.replace(
        demo, steps=1, out=str(tmp_path / "runs")
    )
    assert "departs from the official recipe: ema True" in (run / "log.txt").read_text()
