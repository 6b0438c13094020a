"""Memory and time of one attention block, forward and backward: fused SDPA vs the map.

For feature maps 32x32 (256 channels), 64x64 (128) and 128x128 (64), both variants
(official: pooled C/2 values; paper: full-resolution C/8), it runs the block as the fast
path does (``scaled_dot_product_attention``) and as the reference does (softmax(q k^T)
materialised, then @ v) and prints the median time of forward + backward and memory:

- CUDA: peak allocated memory above what was allocated before the forward pass;
- CPU: PyTorch has no CPU allocator peak, so it reports "saved activations": the bytes of
  the distinct tensors autograd keeps for backward (``saved_tensors_hooks``), the memory
  that scales with the map. The target at 64x64 with the paper's variant: fast <= 1/8.

    python benchmarks/attention_memory.py [--device cpu|cuda] [--batch 4] [--iters 5]
        [--sizes 32,64,128] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

from sagan.models.attention import SelfAttention

CHANNELS = {32: 256, 64: 128, 128: 64}  # width at each feature-map size


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if any")
    p.add_argument("--batch", type=int, default=4, help="images per pass (4)")
    p.add_argument("--iters", type=int, default=5, help="timed passes per case (5)")
    p.add_argument("--sizes", default="32,64,128", help="feature-map sizes (32,64,128)")
    p.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    return p.parse_args()


def saved_bytes(layer: SelfAttention, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves in one forward pass of ``layer``."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x).sum().backward()
    return sum(seen.values())


def run_case(size: int, variant: str, materialise: bool, args, device) -> dict[str, Any]:
    """Time and memory of forward + backward for one block setting."""
    torch.manual_seed(0)
    c = CHANNELS[size]
    layer = SelfAttention(c, variant).to(device)
    layer.materialise = materialise
    x = torch.randn(args.batch, c, size, size, device=device, requires_grad=True)
    row: dict[str, Any] = {"size": size, "channels": c, "variant": variant}
    row["path"] = "reference" if materialise else "fast"
    layer(x).sum().backward()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        layer(x).sum().backward()
        torch.cuda.synchronize()
        row["peak_MiB"] = round((torch.cuda.max_memory_allocated() - base) / 2**20, 2)
    else:
        row["saved_activations_MiB"] = round(saved_bytes(layer, x) / 2**20, 2)
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        layer(x).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    row["ms"] = round(statistics.median(times) * 1000, 2)
    return row


def main() -> None:
    args = parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    kind = "peak_MiB" if device.type == "cuda" else "saved_activations_MiB"
    label = "peak memory" if device.type == "cuda" else "saved activations"
    print(f"attention block fwd+bwd, batch {args.batch}, {device}; memory = {label}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for variant in ("official", "paper"):
            pair = [run_case(size, variant, m, args, device) for m in (False, True)]
            fast, ref = pair
            ratio = ref[kind] / max(fast[kind], 1e-9)
            print(
                f"{size:>3}x{size:<3} C={fast['channels']:<3} {variant:>8}: "
                f"fast {fast[kind]:8.2f} MiB {fast['ms']:8.2f} ms | "
                f"reference {ref[kind]:8.2f} MiB {ref['ms']:8.2f} ms | "
                f"memory reference/fast {ratio:5.1f}x, time {ref['ms'] / fast['ms']:.2f}x"
            )
            rows += pair
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "batch": args.batch, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
