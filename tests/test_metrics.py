"""Metrics: agreement with torch-fidelity, FID maths, intra-FID, caching and digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from inception_standin import make_standin_inception_weights
from PIL import Image

from sagan.cli import main
from sagan.data.digits import DigitsDataset
from sagan.metrics.accumulate import Needs, accumulate
from sagan.metrics.evaluate import Reference, compute_metrics
from sagan.metrics.features import DigitsExtractor
from sagan.metrics.fid import feature_statistics, frechet_distance
from sagan.metrics.sources import dataset_batches, uniform_class_counts
from sagan.metrics.statistics import RunningStats


@pytest.fixture(scope="session")
def standin_weights(tmp_path_factory):
    return make_standin_inception_weights(tmp_path_factory.mktemp("inception") / "standin.pth")


def _folder(path, seed, n=40, size=32, flip=False):
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    for i in range(n):
        # Varied colours and contrast, so features (and the stand-in's classes) differ.
        colour = rng.uniform(0, 1, (1, 1, 3))
        arr = (rng.uniform(0, 255, (size, size, 3)) * colour).astype(np.uint8)
        arr[: size // 2] //= 2 if flip else 1  # a systematic difference between the sets
        Image.fromarray(arr).save(path / f"{i:04d}.png")
    return path


def test_is_fid_kid_agree_with_torch_fidelity(tmp_path, standin_weights, monkeypatch):
    import torch_fidelity

    fake = _folder(tmp_path / "fake", 1, flip=True)
    real = _folder(tmp_path / "real", 2)
    out = tmp_path / "ours.json"
    monkeypatch.setenv("SAGAN_CACHE", str(tmp_path / "cache"))
    argv = [
        "eval",
        "--fake",
        str(fake),
        "--real",
        str(real),
        "--metrics",
        "is,fid,kid",
        "--kid-subset-size",
        "20",
        "--inception-weights",
        str(standin_weights),
        "--batch",
        "16",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    ours = json.loads(out.read_text())
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake),
        input2=str(real),
        isc=True,
        fid=True,
        kid=True,
        kid_subset_size=20,
        feature_extractor_weights_path=str(standin_weights),
        cache=False,
        verbose=False,
        batch_size=16,
        cuda=False,
    )
    assert ours["is"] > 1.5  # the stand-in's logits are not flat, so IS is a real check
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-4)
    assert ours["is_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-4)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["kid_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-4)
    assert (
        ours["extractor"].startswith("inception-v3-compat")
        and len(ours["extractor_weights_sha256"]) == 64
    )
    # The reference statistics were cached under a key naming data, resolution and extractor.
    cached = list((tmp_path / "cache" / "refstats").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("real-32px-2048d-")


def test_missing_inception_weights_say_which_file(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SAGAN_NO_DOWNLOAD", "1")
    monkeypatch.delenv("SAGAN_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    d = _folder(tmp_path / "imgs", 0, n=2)
    assert main(["eval", "--fake", str(d), "--real", str(d), "--metrics", "fid"]) == 2
    err = capsys.readouterr().err
    assert "weights-inception-2015-12-05-6726825d.pth" in err and "--inception-weights" in err
    assert err.count("\n") == 1


def test_fid_of_a_set_against_itself_is_zero():
    ext = DigitsExtractor()
    data = DigitsDataset(16, "heldout")
    ref = Reference(data, "digits-heldout", 16, ext, 100, "cpu", root=None, progress=False)
    res = compute_metrics(["fid"], dataset_batches(data, 64, False, progress=False), ext, ref)
    assert abs(res["fid"]) < 1e-6


def test_fid_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    d = 6
    a = rng.normal(size=(d, d))
    sigma = a @ a.T + np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    # Same covariance: only the means differ.
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        np.sum((mu1 - mu2) ** 2), rel=1e-9
    )
    # sigma2 = c^2 sigma1: Tr(s1 + s2 - 2 (s1 s2)^1/2) = (1 - c)^2 Tr(s1).
    c = 3.0
    expected = np.sum((mu1 - mu2) ** 2) + (1 - c) ** 2 * np.trace(sigma)
    assert frechet_distance(mu1, sigma, mu2, c**2 * sigma) == pytest.approx(expected, rel=1e-9)
    # Diagonal covariances: sum (sqrt(a) - sqrt(b))^2.
    s1, s2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    expected = np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert frechet_distance(mu1, np.diag(s1), mu1, np.diag(s2)) == pytest.approx(expected, rel=1e-9)
    # And on samples: FID of two Gaussian samples approaches the closed form.
    x = rng.multivariate_normal(mu1, sigma, 200_000)
    y = rng.multivariate_normal(mu2, 4 * sigma, 200_000)
    closed = np.sum((mu1 - mu2) ** 2) + np.trace(sigma)
    assert frechet_distance(*feature_statistics(x), *feature_statistics(y)) == pytest.approx(
        closed, rel=0.02
    )


def test_streaming_statistics_equal_numpy():
    x = np.random.default_rng(0).normal(size=(1000, 5)) * 3 + 7
    s = RunningStats(5)
    for chunk in np.array_split(x, 7):
        s.update(torch.from_numpy(chunk).float())
    mu, sigma = feature_statistics(torch.from_numpy(x).float())
    np.testing.assert_allclose(s.mean, mu, rtol=1e-10)
    np.testing.assert_allclose(s.cov, sigma, rtol=1e-8, atol=1e-10)


def test_intra_fid_is_the_mean_of_per_class_fids(tmp_path):
    ext = DigitsExtractor()
    real = DigitsDataset(16, "train")
    fake = DigitsDataset(
        16, "heldout"
    )  # labelled, so it can stand in for class-conditional samples
    ref = Reference(real, "digits-train", 16, ext, 200, "cpu", root=tmp_path, progress=False)
    res = compute_metrics(
        ["intra_fid", "fid"], dataset_batches(fake, 50, True, progress=False), ext, ref
    )
    expected = {}
    for c in range(10):
        f = ext(fake.images[fake.labels == c])[0]
        r = ext(real.images[real.labels == c])[0]
        expected[c] = frechet_distance(*feature_statistics(f), *feature_statistics(r))
    assert res["intra_fid"] == pytest.approx(np.mean(list(expected.values())), rel=1e-6)
    for c, v in expected.items():
        assert res["intra_fid_per_class"][str(c)] == pytest.approx(v, rel=1e-6)


def test_reference_statistics_are_cached_and_reused(tmp_path, monkeypatch):
    ext = DigitsExtractor()
    ref = Reference(
        DigitsDataset(16, "heldout"),
        "digits-heldout",
        16,
        ext,
        100,
        "cpu",
        root=tmp_path,
        progress=False,
    )
    assert ref.prepare(per_class=True, features=True) is not None  # computed
    files = sorted(p.name for p in ref.folder.iterdir())
    assert "all.npz" in files and "class-00009.npz" in files and "features.npy" in files
    assert ref.prepare(per_class=True, features=True) is None  # reused, no pass


def test_per_class_pass_requires_sorted_labels():
    ext = DigitsExtractor()
    imgs = DigitsDataset(16, "heldout").images[:4]
    batches = [(imgs[:2], torch.tensor([1, 1])), (imgs[2:], torch.tensor([0, 0]))]
    with pytest.raises(ValueError, match="sorted"):
        accumulate(batches, ext, Needs(per_class=True), on_class_done=lambda c, s: None)


def test_uniform_class_counts():
    assert uniform_class_counts(50_000, 1000) == [50] * 1000
    assert uniform_class_counts(13, 5) == [3, 3, 3, 2, 2]


def test_digits_checkpoint_gets_digits_fid_offline(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--steps", "2", "--batch", "8", "--out", str(out)]) == 0
    run = next(out.iterdir())
    res_path = tmp_path / "res.json"
    argv = [
        "eval",
        "--ckpt",
        str(run),
        "--metrics",
        "fid,class_accuracy,is,intra_fid,kid",
        "--samples",
        "200",
        "--kid-subset-size",
        "100",
        "--out",
        str(res_path),
    ]
    assert main(argv) == 0
    res = json.loads(res_path.read_text())
    assert res["extractor"].startswith("digits-classifier") and "not Inception" in res["extractor"]
    assert res["fid"] > 0 and 0 <= res["class_accuracy"] <= 1 and res["num_samples"] == 200
    assert len(res["intra_fid_per_class"]) == 10 and res["step"] == 2 and res["seed"] == 0
    table = capsys.readouterr().out
    assert "extractor: digits-classifier" in table and "class_accuracy" in table


def test_training_logs_metrics_and_draws_curves(tiny_train_config):
    from sagan.training.loop import train

    run = train(tiny_train_config(eval_every=2, eval_samples=50), quiet=True)
    rows = [json.loads(r) for r in (run / "stats.jsonl").read_text().splitlines()]
    metric_rows = [r for r in rows if "metric/fid" in r]
    assert [r["step"] for r in metric_rows] == [2, 4]
    assert all("metric/class_accuracy" in r for r in metric_rows)
    assert (run / "curves.png").stat().st_size > 1000
