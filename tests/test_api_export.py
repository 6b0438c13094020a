"""The Python API, exported generators, ONNX and TensorBoard event files."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
import warnings

import pytest
import torch

import sagan
import sagan.api
import sagan.config
import sagan.models.generator
import sagan.pretrained
from sagan.cli import main
from sagan.pretrained import generator_from_checkpoint, resolve_checkpoint


@pytest.fixture
def digits_run(tmp_path):
    out = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "--steps",
                "3",
                "--batch",
                "8",
                "--out",
                str(out),
                "--sample-every",
                "1",
                "--ema",
            ]
        )
        == 0
    )
    return next(out.iterdir())


@pytest.mark.parametrize(
    "module", [sagan, sagan.api, sagan.config, sagan.models.generator, sagan.pretrained]
)
def test_docstring_examples_run(module, tmp_path):
    result = doctest.testmod(module, extraglobs={"tmp": tmp_path}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_exported_generator_reproduces_the_checkpoint_bit_for_bit_in_a_fresh_process(
    digits_run, tmp_path
):
    out = tmp_path / "export"
    assert main(["export", "--ckpt", str(digits_run), "--out", str(out)]) == 0
    info = json.loads((out / "config.json").read_text())
    assert info["format"] == "sagan-generator" and info["weights"] == "ema"
    assert info["class_names"] == [str(i) for i in range(10)] and info["resolution"] == 16
    assert info["training"]["data"] == "digits" and info["training"]["steps"] == 3
    assert "class_accuracy" in info["metrics"]
    z = torch.randn(6, 128, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 7, 8, 9])
    torch.save({"z": z, "y": y}, tmp_path / "inputs.pt")
    script = (
        "import torch, sagan; d = torch.load(r'{}'); "
        "G = sagan.Generator.from_pretrained(r'{}'); "
        "torch.save(G.sample(d['y'], z=d['z']), r'{}')"
    ).format(tmp_path / "inputs.pt", out, tmp_path / "fresh.pt")
    subprocess.run([sys.executable, "-c", script], check=True)
    fresh = torch.load(tmp_path / "fresh.pt")
    _, ckpt = resolve_checkpoint(str(digits_run))
    assert ckpt["G_ema"] is not None
    expected = generator_from_checkpoint(ckpt).sample(y, z=z)
    assert torch.equal(fresh, expected)


def test_from_pretrained_accepts_checkpoints_and_run_folders(digits_run):
    G_run = sagan.Generator.from_pretrained(digits_run)
    ckpt_file = sorted((digits_run / "checkpoints").iterdir())[-1]
    G_file = sagan.Generator.from_pretrained(ckpt_file)
    z = torch.randn(2, 128)
    assert not G_run.training
    assert torch.equal(G_run.sample([1, 2], z=z), G_file.sample([1, 2], z=z))
    with pytest.raises(sagan.SaganError):
        sagan.Generator.from_pretrained(digits_run / "samples")


def test_onnx_export_matches_pytorch_at_any_batch_size(ema_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "export"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", "--ckpt", str(ema_run), "--out", str(out), "--onnx"]) == 0
    exporter_warnings = [
        w for w in caught if "onnx" in str(w.filename).lower() + str(w.message).lower()
    ]
    assert not exporter_warnings, [str(w.message) for w in exporter_warnings]
    assert "`generator.onnx`" in (out / "README.md").read_text()
    session = ort.InferenceSession(str(out / "generator.onnx"), providers=["CPUExecutionProvider"])
    assert [i.shape[0] for i in session.get_inputs()] == ["batch", "batch"]
    G = sagan.Generator.from_pretrained(out)
    for n in (1, 5):
        z = torch.randn(n, 128, generator=torch.Generator().manual_seed(n))
        y = torch.arange(n) % 10
        theirs = session.run(["image"], {"z": z.numpy(), "class": y.numpy()})[0]
        assert abs(theirs - G(z, y).detach().numpy()).max() < 1e-4


def test_run_folder_has_tensorboard_events(tiny_train_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = sagan.train(tiny_train_config(eval_every=2, eval_samples=40), quiet=True)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    scalars, images = set(acc.Tags()["scalars"]), set(acc.Tags()["images"])
    for tag in (
        "loss/d_loss",
        "loss/g_loss",
        "gamma/g.feat8",
        "gamma/d.feat8",
        "speed/sec_per_step",
        "speed/images_per_sec",
        "metric/fid",
        "metric/class_accuracy",
    ):
        assert tag in scalars, tag
    assert {"samples", "attention/g.feat8"} <= images
    assert [e.step for e in acc.Scalars("loss/g_loss")] == [1, 2, 3, 4]


def test_no_tensorboard_writes_no_events(tiny_train_config):
    run = sagan.train(tiny_train_config(tensorboard=False), quiet=True)
    assert not (run / "tensorboard").exists()


@pytest.mark.parametrize("tensorboard", [True, False])
def test_sample_steps_leave_no_matplotlib_figure_open(tiny_train_config, tensorboard):
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    sagan.train(tiny_train_config(steps=3, sample_every=1, tensorboard=tensorboard), quiet=True)
    assert set(plt.get_fignums()) == before


def test_evaluate_from_code(digits_run):
    res = sagan.evaluate(digits_run, metrics="fid,class_accuracy", samples=30)
    assert res["num_samples"] == 30 and "digits-classifier" in res["extractor"]
