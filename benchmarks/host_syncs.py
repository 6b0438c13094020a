"""How often a training step makes the host wait for the device.

Trains the digits preset for ``--steps`` steps through the training loop itself, with
EMA, LeCam and DiffAugment with ADA on (every option that keeps state on the device),
logging and checkpointing every ``--every`` steps, and counts per step:

- on CUDA, the synchronising operations that ``torch.cuda.set_sync_debug_mode("warn")``
  reports (copies to the host, ``.item()``, pageable copies to the device, ...);
- on a CPU, where nothing is asynchronous, the reads of tensor values that would be one
  on a GPU (``item``, ``tolist``, ``bool``, ``float``, ``int``, ``numpy`` called from
  sagan's training code).

Steps that neither log, sample nor checkpoint should count 0: the divergence guard reads
its verdicts back only on the steps that do (``sagan/training/guard.py``).

    python benchmarks/host_syncs.py [--device cuda|cpu] [--steps 24] [--every 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import torch

import sagan.training.console as console
import sagan.training.loop as loop
import sagan.training.trainer as trainer
from sagan.config import TrainConfig

READS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if any")
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--every", type=int, default=8, help="log, sample and checkpoint interval")
    p.add_argument("--json", metavar="PATH")
    return p.parse_args()


def count_cpu_reads(counter: list[int]) -> None:
    """Count reads of tensor values made from sagan's training code (not its data loading)."""
    here = str(Path(loop.__file__).parent.parent)
    for name in READS:
        real = getattr(torch.Tensor, name)

        def wrapper(self, *a, _real=real, **kw):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(here) and "/data/" not in caller:
                counter[0] += 1
            return _real(self, *a, **kw)

        setattr(torch.Tensor, name, wrapper)


def main() -> None:
    args = parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    counter, per_step = [0], []
    real_g_step = trainer.g_step

    def g_step(*a, **kw):
        out = real_g_step(*a, **kw)
        per_step.append(counter[0])
        return out

    trainer.g_step = g_step
    cfg = TrainConfig.from_preset(
        "digits",
        official=True,
        out=tempfile.mkdtemp(prefix="sagan-syncs-"),
        steps=args.steps,
        log_every=args.every,
        ckpt_every=args.every,
        sample_every=args.every,
        device=device,
        tensorboard=False,
        ema=True,
        lecam=0.3,
        diffaugment="color,translation,cutout",
        ada_target=0.6,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
            console.is_internal = lambda message, filename: False  # count every one of them

            def show(message, *a, **kw):
                if "synchroniz" in str(message):
                    counter[0] += 1

            warnings.showwarning = show
        else:
            count_cpu_reads(counter)
        loop.train(cfg, quiet=True)
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    del caught
    # per_step[i]: the count at the end of step i + 1's G phase; the difference between two
    # consecutive ones is what step i + 1's logging and checkpointing and step i + 2's
    # D and G phases did.
    between = {i + 1: b - a for i, (a, b) in enumerate(zip(per_step, per_step[1:]))}
    reading = {s: n for s, n in between.items() if s % args.every == 0}
    quiet = {s: n for s, n in between.items() if s % args.every != 0}
    kind = "synchronising CUDA operations" if device == "cuda" else "host reads of tensor values"
    print(f"{device}: {kind} per step, {args.steps} steps, reading back every {args.every}")
    print(f"  steps that neither log nor checkpoint: {sorted(set(quiet.values()))} (want [0])")
    print(f"  steps that log, sample and checkpoint: {sorted(set(reading.values()))}")
    if args.json:
        result = {"device": device, "quiet_steps": quiet, "reading_steps": reading}
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
