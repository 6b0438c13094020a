"""Data-parallel training under torchrun (gloo on CPU) against one process.

Two processes with batch B/2 each and synchronised batch norm reproduce one process with
batch B up to float rounding. Adam turns rounding into +-lr steps on parameters whose
gradient is near zero, so "match" is judged by the bulk of the parameters: the same
bulk measure shows that per-process batch norm (the default, as in the official code)
does not match, which is why the comparison needs --sync-bn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sagan.data.sampler import InfiniteSampler
from sagan.errors import SaganError
from sagan.training.checkpoint import list_checkpoints, load_checkpoint
from sagan.training.distributed import World

STEPS = 4
COMMON = ["--steps", str(STEPS), "--batch", "8", "--log-every", "1", "--no-tensorboard"]
COMMON += ["--eval-every", str(STEPS), "--eval-samples", "60", "--device", "cpu"]


def _sagan(args: list[str], torchrun: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable]
    if torchrun:
        cmd += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(torchrun)]
    cmd += ["-m", "sagan", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _final(out: Path) -> tuple[Path, dict]:
    (run,) = list(out.iterdir())  # rank 0 alone made a run folder
    return run, load_checkpoint(list_checkpoints(run)[-1])


def _bulk_difference(a: dict, b: dict) -> tuple[float, float]:
    """Median |a - b| over all float entries, and the fraction above 1e-4."""
    d = torch.cat(
        [(a[k].float() - b[k].float()).abs().flatten() for k in a if a[k].is_floating_point()]
    )
    return d.median().item(), (d > 1e-4).float().mean().item()


def _metric_rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return [r for r in rows if "metric/fid" in r]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("one")
    _sagan(["train", *COMMON, "--out", str(out)])
    return _final(out)


def test_two_ranks_with_sync_bn_match_one_process(single, tmp_path):
    # --gpus N launches torchrun itself; on CPU each process uses gloo.
    _sagan(["train", *COMMON, "--out", str(tmp_path), "--sync-bn", "--gpus", "2"])
    run, ckpt = _final(tmp_path)
    for net in ("G", "D"):
        median, frac = _bulk_difference(ckpt[net], single[1][net])
        assert median < 2e-5 and frac < 0.02, (net, median, frac)
    assert ckpt["data_pos"] == single[1]["data_pos"] == STEPS * 8
    # Only rank 0 writes: one header in the log; sharded evaluation matches one process.
    assert (run / "log.txt").read_text().count("run folder:") == 1
    (fid2,), (fid1,) = _metric_rows(run), _metric_rows(single[0])
    assert fid2["metric/fid"] == pytest.approx(fid1["metric/fid"], rel=0.05)


def test_per_rank_batch_norm_differs_and_resumes_on_one_process(single, tmp_path):
    _sagan(["train", *COMMON, "--out", str(tmp_path)], torchrun=2)
    run, ckpt = _final(tmp_path)
    median, _ = _bulk_difference(ckpt["G"], single[1]["G"])
    assert median > 3e-5  # BN statistics of 4 images per rank, not of the 8 of one batch
    # The run goes on with one process: the data stream continues at the same place.
    _sagan(["train", "--resume", str(run), "--steps", str(STEPS + 2)])
    resumed = load_checkpoint(list_checkpoints(run)[-1])
    assert resumed["step"] == STEPS + 2 and resumed["data_pos"] == (STEPS + 2) * 8


def test_ranks_read_disjoint_shares_of_the_global_batch():
    n, batch, world = 100, 8, 2
    one = iter(InfiniteSampler(n, seed=3, start=40))
    global_batch = [next(one) for _ in range(batch)]
    shares = []
    for rank in range(world):
        it = iter(InfiniteSampler(n, seed=3, start=40 // world, rank=rank, num_replicas=world))
        shares.append([next(it) for _ in range(batch // world)])
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == sorted(global_batch)


def test_noise_shards_are_disjoint_slices():
    z = torch.arange(8.0)[:, None]
    parts = [World(rank=r, size=2).shard(z) for r in range(2)]
    assert torch.equal(torch.cat(parts), z) and parts[0].shape[0] == 4


def test_global_batch_must_split_evenly():
    with pytest.raises(SaganError, match="multiple of 3"):
        World(rank=0, size=3).local_batch(8)
