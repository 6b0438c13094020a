"""Section 5.3, Figure 6: FID of single classes for one or two models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sagan.metrics.evaluate import Reference, compute_metrics  # noqa: E402
from sagan.metrics.sources import class_batches  # noqa: E402


def per_class_fid(
    G, classes: list[int], per_class: int, reference: Reference, extractor, batch: int, seed: int
) -> dict[int, float]:
    """FID of ``per_class`` samples of each class against that class's real images."""
    counts = {c: per_class for c in classes}
    batches = class_batches(G, counts, per_class * len(classes), batch, seed, progress=False)
    device = next(G.parameters()).device
    res = compute_metrics(["intra_fid"], batches, extractor, reference, device)
    return {int(c): v for c, v in res["intra_fid_per_class"].items()}


def write_per_class(
    results: dict[str, dict[int, float]], names: list[str] | None, out: Path
) -> dict[str, Any]:
    """table.md, table.csv and per_class.png (grouped bars, one group per class)."""
    out.mkdir(parents=True, exist_ok=True)
    models = list(results)
    classes = sorted({c for r in results.values() for c in r})

    def label(c: int) -> str:
        """The class index, and its name when it has one of its own."""
        return f"{c} {names[c]}" if names and names[c] != str(c) else str(c)

    lines = ["| class | " + " | ".join(models) + " |", "|" + "---|" * (len(models) + 1)]
    csv_lines = ["class," + ",".join(models)]
    for c in classes:
        lines.append(f"| {label(c)} | " + " | ".join(f"{results[m][c]:.4g}" for m in models) + " |")
        csv_lines.append(f"{c}," + ",".join(f"{results[m][c]:.6g}" for m in models))
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "table.csv").write_text("\n".join(csv_lines) + "\n")
    fig, ax = plt.subplots(figsize=(min(12, max(4, 0.55 * len(classes) * len(models) + 1)), 3.6))
    width = 0.8 / len(models)
    x = np.arange(len(classes))
    for i, m in enumerate(models):
        ax.bar(x + i * width, [results[m][c] for c in classes], width, label=m)
    ax.set_xticks(
        x + width * (len(models) - 1) / 2, [label(c) for c in classes], rotation=30, ha="right"
    )
    ax.set_ylabel("FID of the class (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "per_class.png", dpi=110)
    plt.close(fig)
    return {"table": str(out / "table.md"), "figure": str(out / "per_class.png")}
