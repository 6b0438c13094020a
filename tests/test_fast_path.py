"""The fast path's switches: every combination trains, and each keeps the numbers honest."""

from __future__ import annotations

import functools
import itertools
import json

import pytest
import torch
from torch.overrides import TorchFunctionMode

from sagan.commands.common import model_config
from sagan.errors import SaganError
from sagan.models.attention import SelfAttention
from sagan.models.layers import conv3x3
from sagan.training.checkpoint import list_checkpoints, load_checkpoint
from sagan.training.loop import train

# Unconditional, so a run skips the held-out digits evaluation at its end.
FAST = dict(model=model_config("digits", 0), tensorboard=False)


def _losses(run) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


SWITCHES = [
    dict(reference=True),
    *(
        dict(compile="off", channels_last=cl, precision=p)
        for cl, p in itertools.product(("on", "off"), ("fp32", "bf16"))
    ),
    dict(compile="off", fused_resampling="off"),
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda d: "-".join(map(str, d.values())))
def test_each_switch_combination_trains_with_finite_losses(tiny_train_config, switches):
    run = train(tiny_train_config(steps=2, **FAST, **switches), quiet=True)
    rows = _losses(run)
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for key in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss"):
            assert torch.isfinite(torch.tensor(r[key])), (key, r)
    saved = json.loads((run / "config.json").read_text())
    assert {k: saved[k] for k in switches} == switches


def test_the_reference_path_contradicting_a_switch_is_a_one_line_error(tiny_train_config):
    for bad in (
        dict(precision="bf16"),
        dict(compile="on"),
        dict(channels_last="on"),
        dict(fused_resampling="on"),
    ):
        with pytest.raises(SaganError, match="--reference") as e:
            tiny_train_config(reference=True, **bad)
        assert "\n" not in str(e.value)
    with pytest.raises(SaganError, match="precision must be auto, fp32 or bf16"):
        tiny_train_config(precision="fp16")
    with pytest.raises(SaganError, match="compile must be auto, on or off"):
        tiny_train_config(compile="yes")


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_fused_and_materialised_attention_agree_in_fp32(variant):
    torch.manual_seed(0)
    layer = SelfAttention(32, variant)
    layer.gamma.data.fill_(0.7)  # at 0 the block would be the identity
    x = torch.randn(3, 32, 8, 8)
    outs, grads = [], []
    for materialise in (False, True):
        layer.materialise = materialise
        xi = x.clone().requires_grad_(True)
        y = layer.eval()(xi)  # eval: the same SN weights both times
        y.pow(2).sum().backward()
        outs.append(y.detach())
        grads.append(xi.grad)
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-5)


class _RecordOps(TorchFunctionMode):
    """Records (op name, autocast on, result dtype) of the matrix-vector ops called."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, bool, torch.dtype]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in ("mv", "vdot") and isinstance(out, torch.Tensor):
            self.seen.append((name, torch.is_autocast_enabled("cpu"), out.dtype))
        return out


def test_spectral_norm_power_iteration_stays_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    conv = conv3x3(16, 16, sn=True)
    x = torch.randn(2, 16, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16), _RecordOps() as rec:
        y = conv(x)
    assert y.dtype == torch.bfloat16  # the convolution itself does run in bf16
    assert {name for name, _, _ in rec.seen} == {"mv", "vdot"}
    # Autocast is off inside the parametrization, and its products are fp32.
    assert all(not on and dtype == torch.float32 for _, on, dtype in rec.seen), rec.seen
    sn = conv.parametrizations.weight[0]
    assert sn._u.dtype == sn._v.dtype == torch.float32
    assert conv.parametrizations.weight.original.dtype == torch.float32


def test_a_compiled_run_matches_eager_and_checkpoints_the_same_keys(
    tiny_train_config, tmp_path, monkeypatch
):
    """torch.compile (dynamo + AOTAutograd) through SN parametrizations and alternating D/G
    steps. The aot_eager backend skips inductor's C++ code generation, which takes minutes
    on this CPU; benchmarks/train_step.py runs the full inductor path on a GPU."""
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", functools.partial(real_compile, backend="aot_eager"))
    kw = dict(steps=2, ckpt_every=2, sample_every=2, **FAST)
    eager = train(tiny_train_config(out=str(tmp_path / "e"), compile="off", **kw), quiet=True)
    comp = train(tiny_train_config(out=str(tmp_path / "c"), compile="on", **kw), quiet=True)
    assert "compiled" in (comp / "log.txt").read_text()
    a, b = (load_checkpoint(list_checkpoints(r)[-1]) for r in (eager, comp))
    for net in ("G", "D"):
        assert list(a[net]) == list(b[net])
        assert not any("_orig_mod" in k for k in b[net])
    assert a["opt_g"]["state"].keys() == b["opt_g"]["state"].keys()
    for r_e, r_c in zip(_losses(eager), _losses(comp), strict=True):
        for key in ("d_loss", "g_loss"):
            assert r_c[key] == pytest.approx(r_e[key], rel=1e-4, abs=1e-5), key


def _cpu_with(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    """Stand in for the CPU's answers to torch's capability queries."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)


@pytest.mark.parametrize(
    "amx, avx512_bf16, preset, expected",
    [
        (True, False, "cifar32", ("bf16", True, "AMX-BF16")),
        (False, True, "imagenet128", ("bf16", True, "AVX512-BF16")),
        (False, False, "cifar32", ("fp32", False, "no native bf16")),
        (True, True, "digits", ("fp32", False, "this model is small")),
    ],
)
def test_auto_precision_on_cpu_follows_the_hardware_and_the_model(
    monkeypatch, amx, avx512_bf16, preset, expected
):
    from sagan.training.fast_path import resolve_speed

    _cpu_with(monkeypatch, amx, avx512_bf16)
    model = model_config(preset, 10)
    speed = resolve_speed("auto", "auto", "auto", False, torch.device("cpu"), model=model)
    precision, channels_last, why = expected
    assert (speed.precision, speed.channels_last) == (precision, channels_last)
    assert why in speed.why and not speed.compile
    for forced in ("fp32", "bf16"):  # --precision still forces either
        s = resolve_speed(forced, "auto", "off", False, torch.device("cpu"), model=model)
        assert s.precision == forced and s.why == f"--precision {forced}"


def test_the_run_says_which_precision_it_chose_and_why(monkeypatch, tiny_train_config):
    _cpu_with(monkeypatch, amx=False, avx512_bf16=False)
    run = train(tiny_train_config(steps=1, **FAST), quiet=True)
    first = (run / "log.txt").read_text().splitlines()[0]
    assert "precision fp32 (auto: this CPU has no native bf16" in first
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    assert resolved["precision"] == "fp32" and "no native bf16" in resolved["precision_why"]
