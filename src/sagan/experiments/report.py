"""Tables, curves and sample sheets that summarise an experiment's runs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from sagan.experiments.settings import Setting
from sagan.viz.curves import LOWER_IS_BETTER, METRIC_PREFIX, plot_curves, read_metric_rows


def metric_series(run: Path) -> dict[str, list[tuple[int, float]]]:
    """{metric: [(step, value), ...]} from a run's stats.jsonl."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in read_metric_rows(run / "stats.jsonl"):
        for k, v in row.items():
            if k.startswith(METRIC_PREFIX) and isinstance(v, int | float):
                series.setdefault(k[len(METRIC_PREFIX) :], []).append((row["step"], v))
    return series


def summary_rows(settings: list[Setting], runs: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per setting: final and best value of each metric, and parameter counts."""
    rows = []
    for s in settings:
        run = runs[s.name]
        summary = (
            json.loads((run / "summary.json").read_text())
            if (run / "summary.json").is_file()
            else {}
        )
        row: dict[str, Any] = {"setting": s.label, "run": run.name}
        row["g_params"], row["d_params"] = summary.get("g_params"), summary.get("d_params")
        for metric, points in sorted(metric_series(run).items()):
            points = sorted(points)
            pick = min if metric in LOWER_IS_BETTER else max
            best_step, best = pick(points, key=lambda p: p[1])
            row[f"{metric} (final)"] = points[-1][1]
            row[f"{metric} (best)"] = best
            row[f"{metric} best at"] = best_step
        rows.append(row)
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def write_tables(rows: list[dict[str, Any]], out: Path, transpose: bool = False) -> None:
    """table.csv and table.md; ``transpose`` puts settings in columns (the paper's Table 1)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    if transpose:
        header = ["", *[r["setting"] for r in rows]]
        body = [[k, *[_fmt(r.get(k)) for r in rows]] for k in keys if k != "setting"]
    else:
        header, body = keys, [[_fmt(r.get(k)) for k in keys] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    (out / "table.md").write_text("\n".join(lines) + "\n")


def write_curves(
    settings: list[Setting], runs: dict[str, Path], out: Path, title: str, name: str = "curves.png"
) -> None:
    """out/curves.png: each metric against iteration, one line per setting."""
    plot_curves({s.label: metric_series(runs[s.name]) for s in settings}, out / name, title)


def collect_grids(
    settings: list[Setting], runs: dict[str, Path], steps: list[int], out: Path
) -> list[Path]:
    """Copy each setting's sample grid at the chosen steps to out/grids/."""
    folder = out / "grids"
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for s in settings:
        for step in steps:
            src = runs[s.name] / "samples" / f"step-{step:08d}.png"
            if src.is_file():
                dst = folder / f"{s.name}-step-{step:08d}.png"
                shutil.copyfile(src, dst)
                copied.append(dst)
    return copied


def final_metrics(run: Path) -> dict[str, float]:
    """A run's final numbers: the digits summary (digits runs) or its last metric row."""
    summary = (
        json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    )
    if "digits_fid" in summary:
        out = {
            "fid": summary["digits_fid"],
            "fid / floor": summary["digits_fid"] / summary["digits_fid_real"],
        }
        keys = ("class_accuracy", "diversity", "copy_ratio")
        return out | {k: summary[k] for k in keys if k in summary}
    series = metric_series(run)
    return {m: sorted(points)[-1][1] for m, points in series.items() if points}


def write_limited_data_report(
    settings: list[Setting], runs: dict[str, Path], fractions: list[float], out: Path, title: str
) -> None:
    """table.md / table.csv with one row per remedy and each fraction's final numbers,
    fractions.png (final FID against the fraction of data), and curves-f<F>.png per fraction."""
    from sagan.experiments.settings import fraction_name
    from sagan.viz.curves import plot_fraction_lines

    by_remedy: dict[str, dict[str, dict[str, float]]] = {}
    for s in settings:
        remedy, fraction = s.label.rsplit(", ", 1)[0], s.name.rsplit("-f", 1)[1]
        by_remedy.setdefault(remedy, {})[fraction] = final_metrics(runs[s.name])
    rows = []
    for remedy, per in by_remedy.items():
        row: dict[str, Any] = {"remedy": remedy}
        for f in map(fraction_name, fractions):
            for metric, value in per.get(f, {}).items():
                row[f"{f}: {metric}"] = value
        rows.append(row)
    write_tables(rows, out)
    plot_fraction_lines(
        {
            r: {float(f): m["fid"] for f, m in per.items() if "fid" in m}
            for r, per in by_remedy.items()
        },
        out / "fractions.png",
        title,
    )
    for fraction in map(fraction_name, fractions):
        chosen = [s for s in settings if s.name.endswith(f"-f{fraction}")]
        write_curves(
            chosen, runs, out, f"{title}, {fraction} of the data", f"curves-f{fraction}.png"
        )
