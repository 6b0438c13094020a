"""Do the fast and reference paths learn the same? Loss curves on digits, same seed.

Trains the digits preset for --steps steps three times: the fast path (this device's
defaults, or --precision) and the reference path from seed 0, and the reference from seed
1. The fast path passes when its mean absolute gap to the reference (seed 0), over the
smoothed d_loss and g_loss curves, is within the gap between the two reference seeds.

    python benchmarks/numerics.py [--steps 300] [--batch 32] [--device cpu|cuda]
        [--precision auto|fp32|bf16] [--channels-last] [--json PATH]

On a CPU ``auto`` keeps the small digits model in fp32; ``--precision bf16
--channels-last`` checks the path that ``auto`` takes for larger models on a CPU that
computes bf16 natively.

It takes minutes on a CPU: a script, not a unit test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from sagan.config import TrainConfig
from sagan.training.loop import train

SMOOTH = 20  # steps per window of the moving average


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", choices=("cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument(
        "--channels-last", action="store_true", help="the fast path in NHWC (default: auto)"
    )
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    return p.parse_args()


def curves(run: Path) -> dict[str, list[float]]:
    """The run's d_loss and g_loss per step, smoothed over SMOOTH steps."""
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "d_loss" in r]
    out = {}
    for key in ("d_loss", "g_loss"):
        v = [r[key] for r in rows]
        out[key] = [
            sum(v[max(0, i - SMOOTH + 1) : i + 1]) / len(v[max(0, i - SMOOTH + 1) : i + 1])
            for i in range(len(v))
        ]
    return out


def gap(a: dict[str, list[float]], b: dict[str, list[float]]) -> float:
    """Mean absolute difference of two runs' smoothed curves, both losses."""
    diffs = [abs(x - y) for k in a for x, y in zip(a[k], b[k])]
    return sum(diffs) / len(diffs)


def main() -> None:
    args = parse_args()
    out = tempfile.mkdtemp(prefix="sagan-numerics-")
    common = dict(
        out=out,
        steps=args.steps,
        batch=args.batch,
        log_every=1,
        device=args.device,
        ckpt_every=args.steps,
        sample_every=args.steps,
        tensorboard=False,
    )
    # Unconditional: no held-out evaluation at the end, only the curves matter here.
    runs = {
        "fast": dict(
            seed=0, precision=args.precision, channels_last="on" if args.channels_last else "auto"
        ),
        "reference": dict(seed=0, reference=True),
        "reference_seed1": dict(seed=1, reference=True),
    }
    got = {}
    for name, kw in runs.items():
        cfg = TrainConfig.from_preset("digits", num_classes=0, official=True, **common, **kw)
        got[name] = curves(train(cfg, quiet=True))
        print(
            f"{name}: final smoothed d_loss {got[name]['d_loss'][-1]:.4f} "
            f"g_loss {got[name]['g_loss'][-1]:.4f}"
        )
    fast_gap = gap(got["fast"], got["reference"])
    seed_gap = gap(got["reference_seed1"], got["reference"])
    ok = fast_gap <= seed_gap
    print(
        f"fast vs reference (seed 0): {fast_gap:.4f}; reference seed 1 vs seed 0: "
        f"{seed_gap:.4f}; {'PASS' if ok else 'FAIL'}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"fast_gap": fast_gap, "seed_gap": seed_gap, "pass": ok}, f, indent=2)


if __name__ == "__main__":
    main()
