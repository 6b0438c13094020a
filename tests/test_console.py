"""Torch's internal notices stay off the console and go to the run's log.txt."""

from __future__ import annotations

import logging
import warnings

import torch

import sagan.training.loop as loop_module
import sagan.training.trainer as trainer_module
from sagan.training.console import is_internal, torch_notices_to

CUDA_HOME_NOTICE = "No CUDA runtime is found, using CUDA_HOME='/usr/local/cuda'"


def test_torch_logger_messages_are_recorded_not_printed(capfd):
    got: list[str] = []
    with torch_notices_to(got.append):
        logging.getLogger("torch.utils.cpp_extension").warning(CUDA_HOME_NOTICE)
        logging.getLogger("torch._inductor.codecache").warning("some inductor detail")
    err = capfd.readouterr().err
    assert "CUDA_HOME" not in err and "inductor detail" not in err
    assert any(CUDA_HOME_NOTICE in g for g in got) and any("inductor detail" in g for g in got)
    # Outside the context torch's own handlers are back.
    assert logging.getLogger("torch").handlers and not any(
        type(h).__name__ == "_RecordHandler" for h in logging.getLogger("torch").handlers
    )


def test_user_warnings_are_passed_on_and_internal_ones_only_recorded():
    torch_dir = str(torch.__file__).rsplit("/", 1)[0]
    got: list[str] = []
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with torch_notices_to(got.append):
            warnings.warn("this one matters to a user", stacklevel=1)
            warnings.warn_explicit(
                "a compiler detail", UserWarning, f"{torch_dir}/_inductor/x.py", 1
            )
    assert [str(w.message) for w in shown] == ["this one matters to a user"]
    assert any("this one matters" in g for g in got) and any("compiler detail" in g for g in got)


def test_internal_warnings_are_told_apart():
    torch_dir = str(torch.__file__).rsplit("/", 1)[0]
    assert is_internal("anything", f"{torch_dir}/_inductor/lowering.py")
    assert is_internal("anything", f"{torch_dir}/autograd/profiler.py")
    assert not is_internal("DataLoader will create 4 workers", f"{torch_dir}/utils/data/x.py")
    assert not is_internal("something", "/home/user/train.py")


def test_a_training_run_keeps_torch_notices_in_its_log(monkeypatch, tiny_train_config, capfd):
    real_g_step = trainer_module.g_step

    def g_step(*a, **kw):
        logging.getLogger("torch.utils.cpp_extension").warning(CUDA_HOME_NOTICE)
        return real_g_step(*a, **kw)

    monkeypatch.setattr(trainer_module, "g_step", g_step)
    run = loop_module.train(tiny_train_config(steps=2), quiet=True)
    assert "CUDA_HOME" not in capfd.readouterr().err
    assert CUDA_HOME_NOTICE in (run / "log.txt").read_text()
