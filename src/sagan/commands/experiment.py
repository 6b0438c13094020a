"""``sagan experiment``: the paper's experiments at any scale.

stabilization       Sec. 5.1, Fig. 3-4: SN on D (1:1, 5:1), SN on G/D, SN on G/D + TTUR
attention-placement Sec. 5.2, Table 1: no attention, attention or a residual block per size
per-class           Sec. 5.3, Fig. 6: FID of chosen classes for one or two models
limited-data        not in the paper: the official recipe against DiffAugment, ADA, LeCam and
                    their combinations, on stratified fractions of the training set

Every setting is a normal run folder under --out; calling the command again resumes
unfinished settings and skips finished ones.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from sagan.commands.common import int_list
from sagan.errors import SaganError
from sagan.presets import PRESETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``experiment`` and its four kinds."""
    p = sub.add_parser(
        "experiment",
        help="re-run the paper's experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for name, helptext in (
        ("stabilization", "Sec. 5.1: SN and TTUR settings"),
        ("attention-placement", "Sec. 5.2: where attention goes (Table 1)"),
        ("limited-data", "limited-data remedies on fractions of the training set"),
    ):
        k = kinds.add_parser(name, help=helptext)
        if name == "limited-data":
            _limited_data_options(k)
        _training_experiment_options(k)
        k.set_defaults(run=run_training_experiment)
    k = kinds.add_parser("per-class", help="Sec. 5.3: FID of single classes")
    k.add_argument(
        "--ckpt",
        action="append",
        required=True,
        metavar="SOURCE",
        help="checkpoint, run folder, export or Hub id org/name (give one or two)",
    )
    k.add_argument("--classes", type=int_list, required=True, help="classes, e.g. 1,247,980")
    k.add_argument("--samples-per-class", type=int, default=500, help="default 500")
    k.add_argument("--real", help="reference data (default: the first run's training data)")
    k.add_argument("--inception-weights", metavar="FILE", help="Inception weights for FID")
    k.add_argument("--out", default="per-class", help="output folder (default per-class)")
    k.add_argument("--seed", type=int, default=0, help="seed for z (default 0)")
    k.set_defaults(run=run_per_class)


def _training_experiment_options(k: argparse.ArgumentParser) -> None:
    """The options every experiment that trains its settings shares."""
    k.add_argument("--preset", default="digits", choices=sorted(PRESETS))
    k.add_argument("--data", default="digits", help="training data (default digits)")
    k.add_argument("--steps", type=int, default=2000, help="steps per setting (default 2000)")
    k.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    k.add_argument("--out", required=True, help="experiment folder")
    k.add_argument("--eval-every", type=int, help="steps between evaluations (default steps/10)")
    k.add_argument(
        "--eval-samples", type=int, default=1000, help="samples per evaluation (default 1000)"
    )
    k.add_argument(
        "--grid-steps",
        type=int_list,
        help="steps whose sample grids to collect (default: 4 evenly spaced)",
    )
    k.add_argument(
        "--inception-weights", metavar="FILE", help="Inception weights for IS/FID on real data"
    )
    k.add_argument("--seed", type=int, default=0, help="seed of every setting (default 0)")
    k.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    k.add_argument(
        "--parallel",
        type=int,
        help="settings trained at once (default: one per visible GPU, else 1)",
    )
    k.add_argument("--only", help=argparse.SUPPRESS)  # one setting, no report: for --parallel


def _limited_data_options(k: argparse.ArgumentParser) -> None:
    from sagan.experiments.settings import LIMITED_DATA_REMEDIES

    k.add_argument(
        "--fractions",
        type=float_list,
        default=(1.0, 0.5, 0.25),
        help="stratified fractions of the training set (default 1,0.5,0.25)",
    )
    k.add_argument(
        "--remedies",
        type=lambda t: [w.strip() for w in t.split(",") if w.strip()],
        help=f"a subset of {','.join(LIMITED_DATA_REMEDIES)} (default: all)",
    )


def float_list(text: str) -> tuple[float, ...]:
    """'1,0.5,0.25' -> (1.0, 0.5, 0.25). For argparse ``type=``."""
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _experiment_settings(args: argparse.Namespace, base) -> list:
    """The settings of the experiment ``args.kind``."""
    from sagan.experiments.settings import (
        LIMITED_DATA_REMEDIES,
        limited_data_settings,
        placement_settings,
        stabilization_settings,
    )

    if args.kind == "stabilization":
        return stabilization_settings()
    if args.kind == "attention-placement":
        return placement_settings(base)
    bad = [f for f in args.fractions if not 0 < f <= 1]
    if bad or not args.fractions:
        raise SaganError(
            f"--fractions must lie in (0, 1], e.g. 1,0.5,0.25; got {bad[0] if bad else 'none'}"
        )
    unknown = [r for r in args.remedies or [] if r not in LIMITED_DATA_REMEDIES]
    if unknown:
        raise SaganError(
            f"unknown remedy {unknown[0]!r}: choose from {', '.join(LIMITED_DATA_REMEDIES)}"
        )
    return limited_data_settings(base, list(args.fractions), args.remedies)


def _base_config(args: argparse.Namespace):
    from sagan.config import TrainConfig
    from sagan.data import load_dataset

    if args.steps <= 0:
        raise SaganError(f"--steps must be positive, got {args.steps}")
    preset = PRESETS[args.preset]
    num_classes = load_dataset(args.data, preset.resolution, log=lambda m: None).num_classes
    every = args.eval_every or max(1, args.steps // 10)
    grid_steps = list(
        args.grid_steps or sorted({max(1, round(args.steps * f)) for f in (0.25, 0.5, 0.75, 1.0)})
    )
    if any(s <= 0 or s > args.steps for s in grid_steps):
        raise SaganError(f"--grid-steps must lie in 1..{args.steps}")
    sample_every = math.gcd(*grid_steps, args.steps)
    extra = {"batch": args.batch} if args.batch else {}
    cfg = TrainConfig.from_preset(
        args.preset,
        num_classes,
        official=True,  # the experiments compare settings of the official recipe
        data=args.data,
        steps=args.steps,
        eval_every=every,
        eval_samples=args.eval_samples,
        sample_every=sample_every,
        ckpt_every=every,
        inception_weights=args.inception_weights,
        seed=args.seed,
        device=args.device,
        **extra,
    )
    return cfg, grid_steps


def run_training_experiment(args: argparse.Namespace) -> None:
    """Train the settings of stabilization or attention-placement, then report."""
    from sagan.experiments import report
    from sagan.experiments.parallel import child_arguments, run_in_parallel
    from sagan.experiments.runner import run_settings, setting_run_dir

    base, grid_steps = _base_config(args)
    settings = _experiment_settings(args, base)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only:
        chosen = [st for st in settings if st.name == args.only]
        if not chosen:
            raise SaganError(
                f"no setting {args.only!r}: choose from {', '.join(st.name for st in settings)}"
            )
        run_settings(chosen, base, out)
        return
    gpus = torch.cuda.device_count() if args.device != "cpu" else 0
    slots = args.parallel or (gpus if gpus > 1 else 1)
    if slots < 1:
        raise SaganError(f"--parallel must be positive, got {args.parallel}")
    if slots > 1:
        run_in_parallel(settings, child_arguments(args, out), slots, use_gpus=gpus > 1)
        runs = {st.name: setting_run_dir(out, st) for st in settings}
    else:
        runs = run_settings(settings, base, out)
    title = f"{args.kind} ({args.preset} on {args.data})"
    if args.kind == "limited-data":
        report.write_limited_data_report(settings, runs, list(args.fractions), out, title)
    else:
        rows = report.summary_rows(settings, runs)
        report.write_tables(rows, out, transpose=args.kind == "attention-placement")
        report.write_curves(settings, runs, out, title)
    report.collect_grids(settings, runs, grid_steps, out)
    curves = "fractions.png, curves-f*.png" if args.kind == "limited-data" else "curves.png"
    print(f"wrote {out / 'table.md'}, {out / 'table.csv'}, {out}/{curves} and {out / 'grids'}/")


def run_per_class(args: argparse.Namespace) -> None:
    """FID of each chosen class for each model; table and bar chart."""
    from sagan.commands.evaluate import open_reference
    from sagan.experiments.per_class import per_class_fid, write_per_class
    from sagan.metrics.features import make_extractor
    from sagan.pretrained import load

    if len(args.ckpt) > 2:
        raise SaganError("per-class compares one or two models: give --ckpt once or twice")
    if args.samples_per_class < 2:
        raise SaganError("--samples-per-class must be at least 2 (a covariance needs two samples)")
    results, names, reference, extractor = {}, None, None, None
    for i, path in enumerate(args.ckpt):
        loaded = load(path)
        G = loaded.G
        k = G.cfg.num_classes
        bad = [c for c in args.classes if not 0 <= c < k]
        if bad:
            raise SaganError(
                f"class {bad[0]} is out of range: {loaded.path} has classes 0..{k - 1}"
            )
        if reference is None:
            real = args.real or loaded.training_data
            if not real:
                raise SaganError(f"{loaded.source} does not record its training data: pass --real")
            extractor = make_extractor(
                "digits" if real == "digits" else "inception", args.inception_weights
            )
            reference = open_reference(real, G.cfg.resolution, extractor, 250, "cpu")
            names = loaded.info.get("class_names")
        label = f"{chr(65 + i)}: {distinct_names(args.ckpt)[i]}"
        results[label] = per_class_fid(
            G, list(args.classes), args.samples_per_class, reference, extractor, 250, args.seed
        )
    written = write_per_class(results, names, Path(args.out))
    print(f"wrote {written['table']} and {written['figure']}")


def distinct_names(paths: list[str]) -> list[str]:
    """The shortest path tails that tell the given runs apart ('a/00000-x', 'b/00000-x')."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(q) for q in parts) + 1):
        names = ["/".join(q[-depth:]) for q in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]
