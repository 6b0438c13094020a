"""Comparing two training checkpoints bit for bit (shared by the resume and fault tests)."""

from __future__ import annotations

import torch


def assert_same_state(a: dict, b: dict) -> None:
    """Same step, data position, networks, optimizer states and noise generator."""
    assert a["step"] == b["step"]
    assert a.get("data_pos") == b.get("data_pos")
    for net in ("G", "D", "G_ema"):
        if a.get(net) is None:
            assert b.get(net) is None
            continue
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    for opt in ("opt_g", "opt_d"):
        for pid, st in a[opt]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b[opt]["state"][pid][k]), (opt, pid, k)
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])
