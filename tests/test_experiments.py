"""The paper's experiments as commands, at 2-3 steps per setting."""

from __future__ import annotations

import json

from sagan.cli import main
from sagan.training.checkpoint import list_checkpoints, load_checkpoint


def _run(kind, out, steps=2, extra=()):
    argv = [
        "experiment",
        kind,
        "--steps",
        str(steps),
        "--batch",
        "8",
        "--out",
        str(out),
        "--eval-samples",
        "30",
        *extra,
    ]
    assert main(argv) == 0


def test_stabilization_writes_table_curves_and_grids_then_resumes(tmp_path):
    out = tmp_path / "stab"
    _run("stabilization", out, extra=("--grid-steps", "1,2"))
    settings = ["sn-d-1to1", "sn-d-5to1", "sn-gd-1to1", "sn-gd-ttur"]
    assert all((out / s).is_dir() for s in settings)
    table = (out / "table.md").read_text()
    for label in ("SN on D, 1:1", "SN on D, 5:1", "SN on G/D, 1:1", "SN on G/D + TTUR"):
        assert label in table
    assert "fid (final)" in table and "class_accuracy (final)" in table
    assert (out / "table.csv").read_text().count("\n") == 5
    assert (out / "curves.png").stat().st_size > 1000
    assert len(list((out / "grids").glob("*.png"))) == 8
    run = next((out / "sn-d-5to1").iterdir())
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["n_dis"] == 5 and cfg["model"]["sn"] == "d" and cfg["lr_d"] == cfg["lr_g"] == 1e-4
    ttur = json.loads((next((out / "sn-gd-ttur").iterdir()) / "config.json").read_text())
    assert ttur["lr_d"] == 4e-4 and ttur["model"]["sn"] == "both"
    # A second call with more steps resumes each run folder instead of starting over.
    _run("stabilization", out, steps=3, extra=("--grid-steps", "1,2"))
    for s in settings:
        runs = list((out / s).iterdir())
        assert len(runs) == 1
        assert load_checkpoint(list_checkpoints(runs[0])[-1])["step"] == 3


def test_attention_placement_table_in_the_papers_layout(tmp_path):
    out = tmp_path / "place"
    _run("attention-placement", out)
    table = (out / "table.md").read_text().splitlines()
    assert table[0].split("|")[2:5] == [" no attention ", " SAGAN feat8 ", " residual feat8 "]
    rows = {line.split("|")[1].strip(): line for line in table[2:]}
    assert "g_params" in rows and "fid (final)" in rows
    params = [int(v.strip().replace(",", "")) for v in rows["g_params"].split("|")[2:5]]
    assert params[1] == params[2] > params[0]  # the residual stand-in has attention's budget


def test_per_class_table_and_chart(tmp_path):
    runs = tmp_path / "runs"
    assert main(["train", "--steps", "2", "--batch", "8", "--out", str(runs)]) == 0
    assert main(["train", "--steps", "2", "--batch", "8", "--out", str(runs), "--seed", "1"]) == 0
    a, b = sorted(runs.iterdir())
    out = tmp_path / "pc"
    argv = [
        "experiment",
        "per-class",
        "--ckpt",
        str(a),
        "--ckpt",
        str(b),
        "--classes",
        "1,7",
        "--samples-per-class",
        "20",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    lines = (out / "table.md").read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith("| 1 |") and lines[3].startswith("| 7 |")
    assert (out / "per_class.png").stat().st_size > 1000


def test_runs_of_the_same_name_get_telling_labels():
    from sagan.commands.experiment import distinct_names

    names = distinct_names(["x/a/00000-digits-digits", "x/b/00000-digits-digits"])
    assert names == ["a/00000-digits-digits", "b/00000-digits-digits"]
    assert distinct_names(["runs/00000-d", "runs/00001-d"]) == ["00000-d", "00001-d"]


def test_settings_can_run_side_by_side(tmp_path):
    out = tmp_path / "par"
    _run("attention-placement", out, extra=("--parallel", "2", "--device", "cpu"))
    assert (out / "table.md").is_file() and (out / "curves.png").is_file()
    for name in ("no-attention", "sagan-feat8", "residual-feat8"):
        (run,) = list((out / name).iterdir())
        assert json.loads((run / "summary.json").read_text())["steps"] == 2


def test_limited_data_compares_remedies_on_fractions_of_the_data(tmp_path):
    out = tmp_path / "limited"
    extra = ("--fractions", "1,0.5", "--remedies", "official,ema-lecam-ada", "--grid-steps", "2")
    _run("limited-data", out, extra=extra)
    lines = (out / "table.md").read_text().splitlines()
    assert lines[0].startswith("| remedy | 1: fid | 1: fid / floor | 1: class_accuracy")
    assert "0.5: diversity" in lines[0] and "0.5: copy_ratio" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "official recipe",
        "EMA + LeCam + ADA",
    ]
    for name in ("fractions.png", "curves-f1.png", "curves-f0.5.png"):
        assert (out / name).stat().st_size > 1000, name
    assert len(list((out / "grids").glob("*.png"))) == 4
    half = json.loads((next((out / "ema-lecam-ada-f0.5").iterdir()) / "config.json").read_text())
    assert half["data_fraction"] == 0.5 and half["lecam"] == 0.3 and half["ema"] is True
    assert half["diffaugment"] == "color,translation,cutout" and half["ada_target"] == 0.6
    official = json.loads((next((out / "official-f1").iterdir()) / "config.json").read_text())
    assert official["lecam"] == 0 and official["diffaugment"] == "" and not official["ema"]
    log = (next((out / "official-f0.5").iterdir()) / "log.txt").read_text()
    assert "training on 0.5 of each class: 718 images" in log
