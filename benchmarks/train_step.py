"""Time full training iterations (one D step, one G step) of the fast and reference paths.

Both paths run in this process through the training loop's own ``d_step`` and ``g_step``,
each from the same seed, after warm-up iterations (which include torch.compile's); the
median iteration counts. For each it prints ms per iteration, images per second and peak
memory, then the speed-up, the model FLOPs of one iteration (the reference's literal math,
counted by ``torch.utils.flop_counter.FlopCounterMode``; the fast path's fused resampling
executes fewer, shown beside them) and, on CUDA, the model FLOP utilisation against the
device's bf16 dense peak.

    python benchmarks/train_step.py --preset cifar32 --batch 64 [--device cpu|cuda]
        [--iters 10] [--warmup 3] [--precision auto] [--compile|--no-compile]
        [--channels-last|--no-channels-last] [--fused-resampling|--no-fused-resampling]
        [--profile] [--studiogan DIR] [--json PATH]

``--studiogan DIR`` also times PyTorch-StudioGAN's CIFAR-10 SAGAN from the checkout DIR
(``benchmarks/studiogan_step.py``: its own networks and one D and one G update as its worker
does them, at the same batch) and prints the fast path's speed against it. Only cifar32 has
StudioGAN's widths.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on CPU there is no allocator
peak, so it reports the bytes autograd saves for backward in one eager iteration
("saved activations", the larger of the D and G steps), and n/a for a compiled path.
On CUDA a reference batch that runs out of memory is halved until it fits (and said so).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sagan.config import ModelConfig
from sagan.models import Discriminator, Generator
from sagan.presets import PRESETS
from sagan.training.fast_path import (
    Compiled,
    Speed,
    adam,
    prepare,
    resolve_speed,
    set_backend_flags,
    to_memory_format,
)
from sagan.training.steps import d_step, g_step

# bf16 dense peaks in TFLOPS, matched against torch.cuda.get_device_name (first match wins).
BF16_PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("H200", 989.4),
    ("A100", 312.0),
)


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cifar32")
    p.add_argument("--batch", type=int, default=64, help="images per D and per G step")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if any")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per path (10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first (3)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    for name in ("compile", "channels-last", "fused-resampling"):
        dest = name.replace("-", "_")
        p.add_argument(f"--{name}", dest=dest, action="store_const", const="on", default="auto")
        p.add_argument(f"--no-{name}", dest=dest, action="store_const", const="off")
    p.add_argument(
        "--profile",
        action="store_true",
        help="first profile one fast-path iteration: top ops and the convolutions' share",
    )
    p.add_argument(
        "--studiogan",
        metavar="DIR",
        help="also time PyTorch-StudioGAN's CIFAR-10 SAGAN from this checkout (cifar32 only)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    return p.parse_args()


@dataclass
class Setup:
    """One path's networks, optimizers and fixed inputs."""

    speed: Speed
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    fast: Compiled
    inputs: tuple[torch.Tensor, ...]


def build(model: ModelConfig, speed: Speed, batch: int, device: torch.device) -> Setup:
    """Networks from seed 0 set up as the training loop sets them up, and one batch."""
    torch.manual_seed(0)
    G, D = Generator(model).to(device), Discriminator(model).to(device)
    prepare(G, speed)
    prepare(D, speed)
    opt_g = adam(G.parameters(), 1e-4, (0.0, 0.999), device, speed)
    opt_d = adam(D.parameters(), 4e-4, (0.0, 0.999), device, speed)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 3, model.resolution, model.resolution, generator=gen) * 2 - 1
    y = torch.randint(0, max(model.num_classes, 1), (batch,), generator=gen)
    z = torch.randn(batch, model.z_dim, generator=gen)
    y = y.to(device) if model.num_classes > 0 else None
    x = to_memory_format(x.to(device), speed)
    return Setup(speed, G, D, opt_g, opt_d, Compiled(speed), (x, y, z.to(device)))


def iteration(p: Setup) -> None:
    """One training iteration: a D step and a G step, as in the loop (n_dis = 1)."""
    x, y, z = p.inputs
    dtype = p.speed.autocast_dtype
    fG, fD = p.fast(p.G), p.fast(p.D)
    d_step(fG, fD, p.opt_d, x, y, z, y, autocast_dtype=dtype)
    g_step(fG, fD, p.opt_g, z, y, autocast_dtype=dtype)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def saved_activation_bytes(p: Setup) -> int:
    """Bytes autograd saves for backward, the larger of one D step and one G step."""
    x, y, z = p.inputs
    dtype = p.speed.autocast_dtype
    totals = {"d": 0, "g": 0}
    step = "d"

    def pack(t: torch.Tensor) -> torch.Tensor:
        totals[step] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        d_step(p.G, p.D, p.opt_d, x, y, z, y, autocast_dtype=dtype)
        step = "g"
        g_step(p.G, p.D, p.opt_g, z, y, autocast_dtype=dtype)
    return max(totals.values())


def count_flops(p: Setup) -> int:
    """FLOPs of one eager iteration (forward and backward of both steps)."""
    x, y, z = p.inputs
    with FlopCounterMode(display=False) as counter:
        d_step(p.G, p.D, p.opt_d, x, y, z, y, autocast_dtype=p.speed.autocast_dtype)
        g_step(p.G, p.D, p.opt_g, z, y, autocast_dtype=p.speed.autocast_dtype)
    return int(counter.get_total_flops())


def measure(
    model: ModelConfig, speed: Speed, batch: int, device: torch.device, args
) -> dict[str, Any]:
    """Warm up, then time ``args.iters`` iterations; with peak memory and (eager) FLOPs."""
    set_backend_flags(device, speed)
    p = build(model, speed, batch, device)
    row: dict[str, Any] = {"path": "reference" if speed.reference else "fast", "batch": batch}
    row["setting"] = speed.describe()
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        iteration(p)
    sync(device)
    row["warmup_s"] = round(time.perf_counter() - t0, 2)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        iteration(p)
        sync(device)
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)  # robust to other work on a shared machine
    row["ms_per_iter"] = round(sec * 1000, 2)
    row["images_per_s"] = round(batch / sec, 1)
    if device.type == "cuda":
        row["peak_memory_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    elif not speed.compile:
        row["saved_activations_MiB"] = round(saved_activation_bytes(p) / 2**20, 1)
    if not speed.compile:
        row["flops_per_iter"] = count_flops(p)
    del p
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def measure_fitting(model, speed, batch, device, args) -> dict[str, Any]:
    """``measure``, halving the batch on CUDA while it runs out of memory."""
    while True:
        try:
            return measure(model, speed, batch, device, args)
        except torch.cuda.OutOfMemoryError:
            if batch == 1:
                raise
            gc.collect()
            torch.cuda.empty_cache()
            print(f"{speed.describe()}: out of memory at batch {batch}; trying {batch // 2}")
            batch //= 2


def bf16_peak(device: torch.device) -> tuple[str, float | None]:
    """The device's name and its bf16 dense peak in FLOP/s, if known."""
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    for key, tflops in BF16_PEAK_TFLOPS:
        if key in name:
            return name, tflops * 1e12
    return name, None


def profile(model: ModelConfig, speed: Speed, batch: int, device: torch.device) -> None:
    """Print the top ops of one iteration (after one warm-up) and the convolutions' share.

    The profiler's own start and stop notices (printed by its C++ side) go to a file, not
    the console."""
    p = build(model, speed, batch, device)
    iteration(p)
    notices = Path(tempfile.gettempdir()) / "sagan-profiler-notices.log"
    with native_stderr_to(notices) as path, torch.profiler.profile() as prof:
        iteration(p)
        sync(device)
    print(f"(the profiler's own notices are in {path})")
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=10))
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "convolution" in e.key)
    print(f"convolutions (forward and backward): {100 * conv / total:.0f}% of self CPU time")


@contextmanager
def native_stderr_to(path: Path) -> Iterator[Path]:
    """Point file descriptor 2 (where C++ code writes) at ``path`` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield path
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def measure_studiogan(checkout: str, batch: int, device: torch.device, args) -> dict[str, Any]:
    """StudioGAN's iteration (``studiogan_step``), warmed up and timed like ``measure``."""
    from studiogan_step import studiogan_iteration

    with native_stderr_to(Path(tempfile.gettempdir()) / "sagan-studiogan-import.log"):
        run, counts = studiogan_iteration(checkout, batch, device)
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        run()
    sync(device)
    row: dict[str, Any] = {"path": "StudioGAN", "batch": batch, **counts}
    row["warmup_s"] = round(time.perf_counter() - t0, 2)
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    row["ms_per_iter"] = round(sec * 1000, 2)
    row["images_per_s"] = round(batch / sec, 1)
    return row


def executed(row: dict[str, Any]) -> str:
    """' (executed: X)' when the path ran fewer FLOPs than the model's count, else ''."""
    ran = row.get("executed_flops_per_iter")
    if ran is None or ran == row["flops_per_iter"]:
        return ""
    return f" (executed {ran / 1e12:.3f})"


def main() -> None:
    args = parse_args()
    if args.studiogan:
        from studiogan_step import check_checkout

        if args.preset != "cifar32":
            raise SystemExit(
                "--studiogan compares StudioGAN's CIFAR-10 SAGAN: use --preset cifar32"
            )
        check_checkout(args.studiogan)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = ModelConfig.from_preset(args.preset)
    fast = resolve_speed(
        args.precision,
        args.compile,
        args.channels_last,
        False,
        device,
        args.fused_resampling,
        model,
    )
    ref = resolve_speed("fp32", "off", "off", True, device)
    name, peak = bf16_peak(device)
    print(f"{args.preset}, batch {args.batch}, {name}, {torch.get_num_threads()} CPU threads")
    if args.profile:
        profile(model, fast, args.batch, device)
    rows = [measure_fitting(model, s, args.batch, device, args) for s in (fast, ref)]
    # MFU counts the model's FLOPs: those of the reference's literal math (the reference is
    # never compiled, so it always has a count). The fast path executes fewer: its fused
    # resampling convolutions (sagan.models.resample) do the same function in fewer FLOPs.
    per_image = rows[1]["flops_per_iter"] / rows[1]["batch"]
    for r in rows:
        if "flops_per_iter" in r:
            r["executed_flops_per_iter"] = r["flops_per_iter"]
        r["flops_per_iter"] = int(per_image * r["batch"])
        r["mfu"] = (
            round(r["flops_per_iter"] / (r["ms_per_iter"] / 1000) / peak, 4) if peak else None
        )
        mem = r.get("peak_memory_MiB", r.get("saved_activations_MiB"))
        kind = "peak memory" if "peak_memory_MiB" in r else "saved activations"
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(
            f"{r['path']:>9} ({r['setting']}), batch {r['batch']}: {r['ms_per_iter']:.1f} ms/iter, "
            f"{r['images_per_s']:.1f} images/s, {kind} "
            f"{'n/a' if mem is None else f'{mem:.0f} MiB'}, "
            f"{r['flops_per_iter'] / 1e12:.3f} model TFLOP/iter{executed(r)}, MFU {mfu} "
            f"(warm-up {r['warmup_s']:.1f} s)"
        )
    fast_ips, ref_ips = rows[0]["images_per_s"], rows[1]["images_per_s"]
    speedup = round(fast_ips / ref_ips, 3)
    print(f"speed-up (images/s, fast / reference): {speedup:.2f}x")
    result: dict[str, Any] = {"preset": args.preset, "device": name, "rows": rows}
    result["speedup"] = speedup
    if args.studiogan:
        if args.preset != "cifar32":
            raise SystemExit(
                "--studiogan compares StudioGAN's CIFAR-10 SAGAN: use --preset cifar32"
            )
        sg = measure_studiogan(args.studiogan, args.batch, device, args)
        rows.append(sg)
        print(
            f"StudioGAN (CIFAR-10 SAGAN, fp32 eager, {sg['g_params']:,} + {sg['d_params']:,} "
            f"params), batch {sg['batch']}: {sg['ms_per_iter']:.1f} ms/iter, "
            f"{sg['images_per_s']:.1f} images/s (warm-up {sg['warmup_s']:.1f} s)"
        )
        result["speedup_vs_studiogan"] = round(fast_ips / sg["images_per_s"], 3)
        print(f"speed-up (images/s, fast / StudioGAN): {result['speedup_vs_studiogan']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
