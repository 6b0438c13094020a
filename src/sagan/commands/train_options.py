"""The options of ``sagan train``, in the groups its --help shows."""

from __future__ import annotations

import argparse

from sagan.commands.common import int_list
from sagan.presets import PRESETS


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Add every option group of ``sagan train`` to ``p``."""
    _data_options(p)
    _optimisation_options(p)
    _architecture_options(p)
    _limited_data_options(p)
    _distributed_options(p)
    _speed_options(p)
    _evaluation_options(p)
    _output_options(p)


def _data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and run")
    g.add_argument("--preset", choices=sorted(PRESETS), help="architecture (default digits)")
    g.add_argument(
        "--data",
        help="'digits' (default), an image folder with one subfolder per "
        "class, or a CIFAR-10 cifar-10-batches-py folder",
    )
    g.add_argument("--out", help="parent folder of numbered run folders (default runs)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="start from a saved config.json (a run's, its run folder, or a partial one); "
        "the flags given override it",
    )
    g.add_argument("--unconditional", action="store_true", help="ignore labels (num_classes = 0)")
    g.add_argument(
        "--official",
        action="store_true",
        help="the official recipe: leave out the preset's own departures from it (digits: "
        "EMA 0.99, LeCam 0.3, 6,000 steps; the other presets have none)",
    )


def _optimisation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation (defaults: the official code's TTUR)")
    g.add_argument("--steps", type=int, help="G updates in total")
    g.add_argument(
        "--batch",
        type=int,
        help="images per D and per G step; under torchrun the global batch, split over ranks",
    )
    g.add_argument("--n-dis", type=int, help="D steps per G step (default 1; baseline 5)")
    g.add_argument("--lr-g", type=float, help="G learning rate (default 1e-4)")
    g.add_argument("--lr-d", type=float, help="D learning rate (default 4e-4)")
    g.add_argument("--beta1", type=float, help="Adam beta1 (default 0)")
    g.add_argument(
        "--beta2",
        type=float,
        help="Adam beta2 (default 0.999 as in the official code; the paper says 0.9)",
    )
    g.add_argument("--ema", action="store_true", default=None, help="keep an EMA of G (off)")
    g.add_argument("--ema-decay", type=float, help="EMA decay (default 0.999)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    g.add_argument("--workers", type=int, help="data-loading processes (default 0)")
    g.add_argument(
        "--grad-limit",
        type=float,
        help="a gradient norm above this (or a NaN/Inf loss) rolls back to the last "
        "checkpoint (default 1e5)",
    )
    g.add_argument(
        "--max-rollbacks", type=int, help="rollbacks in a row before stopping (default 3)"
    )


def _limited_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("limited data (none of these is in the official code)")
    g.add_argument(
        "--data-fraction",
        type=float,
        metavar="F",
        help="train on a stratified share F of each class (default 1)",
    )
    g.add_argument(
        "--diffaugment",
        metavar="POLICY",
        help="DiffAugment of D's real and fake inputs: a comma list of color, translation, "
        "cutout ('' or none: off)",
    )
    g.add_argument(
        "--translation-ratio", type=float, help="largest shift, of the image side (0.125)"
    )
    g.add_argument("--cutout-ratio", type=float, help="cutout square, of the image side (0.5)")
    g.add_argument(
        "--augment-p",
        type=float,
        help="probability of each transform per image (default 1; with --ada-target its "
        "start, default 0)",
    )
    g.add_argument(
        "--ada-target",
        type=float,
        metavar="R",
        help="adapt that probability so that E[sign(D(x_real))] stays at R (ADA: 0.6)",
    )
    g.add_argument("--ada-interval", type=int, help="D steps between adjustments (default 4)")
    g.add_argument("--ada-kimg", type=float, help="k images for p to go from 0 to 1 (500)")
    g.add_argument(
        "--lecam", type=float, metavar="WEIGHT", help="LeCam regularisation of D (default 0: off)"
    )
    g.add_argument("--lecam-decay", type=float, help="decay of LeCam's anchors (default 0.99)")
    g.add_argument(
        "--lecam-start", type=int, help="D steps before the anchors average (default 1000)"
    )


def _distributed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "several GPUs (torchrun --nproc-per-node N -m sagan train ... works as well)"
    )
    g.add_argument(
        "--gpus",
        type=int,
        help="launch N processes on this machine through torchrun; --batch stays the "
        "global batch, split evenly over the processes",
    )
    g.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="G's batch norm over the global batch (default: per process, as the official code)",
    )


def _speed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "speed (defaults: bf16, compile and channels_last on CUDA; on a CPU eager, with bf16 "
        "and channels_last where the CPU computes bf16 natively and the model is not small)"
    )
    g.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help="forward passes in bf16 autocast (spectral norm and losses stay fp32) or fp32; "
        "auto: bf16 on CUDA, and on a CPU that computes bf16 natively (AMX-BF16, AVX512-BF16) "
        "for all but small models; the run's first log line says which and why",
    )
    for name, on, off in (
        ("compile", "torch.compile G and D", "run G and D eagerly"),
        ("channels-last", "NHWC tensors", "NCHW tensors"),
        (
            "fused-resampling",
            "each block's upsample/pool conv as one strided conv (default on)",
            "the literal upsample-then-conv and conv-then-pool",
        ),
    ):
        dest = name.replace("-", "_")
        g.add_argument(f"--{name}", dest=dest, action="store_const", const="on", help=on)
        g.add_argument(f"--no-{name}", dest=dest, action="store_const", const="off", help=off)
    g.add_argument(
        "--reference",
        action="store_true",
        default=None,
        help="the slow path for comparisons: fp32, eager, materialised attention maps, "
        "literal upsample/pool convolutions",
    )


def _architecture_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("architecture")
    g.add_argument("--sn", choices=("both", "d", "g", "none"), help="spectral norm (default both)")
    g.add_argument(
        "--attn-g",
        type=int_list,
        metavar="SIZES",
        help="G attention sizes, e.g. 32 or 16,32; '' for none",
    )
    g.add_argument("--attn-d", type=int_list, metavar="SIZES", help="D attention sizes")
    g.add_argument(
        "--attn-variant",
        choices=("official", "paper"),
        help="pooled C/2 values (official, default) or full-resolution C/8 (paper)",
    )
    g.add_argument(
        "--residual-instead-of-attention",
        action="store_true",
        default=None,
        help="a residual block with attention's parameter budget (Table 1)",
    )


def _evaluation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evaluation during training")
    g.add_argument("--eval-every", type=int, help="steps between evaluations (default 0: off)")
    g.add_argument("--eval-samples", type=int, help="samples per evaluation (default 5000)")
    g.add_argument(
        "--eval-metrics",
        help="e.g. is,fid,kid (default: fid,class_accuracy on digits, else is,fid)",
    )
    g.add_argument(
        "--extractor",
        choices=("auto", "inception", "digits"),
        help="feature network (default auto)",
    )
    g.add_argument("--inception-weights", metavar="FILE", help="Inception weights file for IS/FID")


def _output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--no-tensorboard",
        dest="tensorboard",
        action="store_false",
        default=None,
        help="write no TensorBoard event files",
    )
    g.add_argument("--ckpt-every", type=int, help="steps between checkpoints")
    g.add_argument("--keep-ckpts", type=int, help="checkpoints kept (default 3)")
    g.add_argument("--sample-every", type=int, help="steps between sample grids")
    g.add_argument("--log-every", type=int, help="steps between stats.jsonl rows (default 10)")
