"""Metric-against-step curves from stats.jsonl: the shape of the paper's Figure 3."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRIC_PREFIX = "metric/"
LOWER_IS_BETTER = ("fid", "intra_fid", "kid")


def read_metric_rows(stats_path: Path) -> list[dict]:
    """The stats.jsonl rows that carry evaluation metrics."""
    rows = []
    for line in Path(stats_path).read_text().splitlines():
        row = json.loads(line)
        if any(k.startswith(METRIC_PREFIX) for k in row):
            rows.append(row)
    return rows


def plot_curves(
    series: dict[str, dict[str, list[tuple[int, float]]]], path: Path, title: str = ""
) -> None:
    """One panel per metric; in each, one line per setting. series[setting][metric] = [(step, value)]."""
    metrics = sorted({m for per in series.values() for m in per})
    if not metrics:
        return
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for setting, per in series.items():
            points = sorted(per.get(metric, []))
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=setting)
        values = [v for per in series.values() for _, v in per.get(metric, []) if v > 0]
        if metric in LOWER_IS_BETTER and values and max(values) > 20 * min(values):
            ax.set_yscale("log")  # early FIDs are huge; the end of training is what matters
        arrow = " (lower is better)" if metric in LOWER_IS_BETTER else ""
        ax.set_title(metric + arrow)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_run_curves(run_dir: Path) -> Path | None:
    """curves.png in a run folder, from the metric rows of its stats.jsonl."""
    rows = read_metric_rows(Path(run_dir) / "stats.jsonl")
    per: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for k, v in row.items():
            if k.startswith(METRIC_PREFIX) and isinstance(v, int | float):
                per.setdefault(k[len(METRIC_PREFIX) :], []).append((row["step"], v))
    if not per:
        return None
    out = Path(run_dir) / "curves.png"
    plot_curves({Path(run_dir).name: per}, out, title=Path(run_dir).name)
    return out


def plot_fraction_lines(values: dict[str, dict[float, float]], path: Path, title: str = "") -> None:
    """Final FID against the fraction of the training data, one line per remedy."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for label, per in values.items():
        if per:
            xs = sorted(per)
            ax.plot(xs, [per[x] for x in xs], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("fraction of the training data")
    ax.set_ylabel("final FID (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
