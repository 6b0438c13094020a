"""A stand-in for the Inception weights file: the real architecture, random weights."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import torch


def make_standin_inception_weights(path: Path, seed: int = 0) -> Path:
    """Write a state dict that torch-fidelity's FeatureExtractorInceptionV3 loads."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        with (
            mock.patch.object(fe, "load_state_dict_from_url", return_value={}),
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", return_value=None),
        ):
            net = fe.FeatureExtractorInceptionV3("standin", ["2048"])
        state = net.state_dict()
        # Keep activations in a sane range through ~90 random layers.
        for k, v in state.items():
            if k.endswith("conv.weight"):
                fan_in = v[0].numel()
                state[k] = torch.randn_like(v) * (2.0 / fan_in) ** 0.5
        torch.save(state, path)
        # Make the logits depend on how an image differs from the average one, so that
        # the Inception Score of varied images is well above 1.
        probe = fe.FeatureExtractorInceptionV3(
            "standin", ["2048"], feature_extractor_weights_path=str(path)
        )
        images = (torch.rand(16, 3, 1, 1) * 255 * torch.rand(16, 3, 32, 32)).to(torch.uint8)
        (feats,) = probe(images)
        mean, dev = feats.mean(0), feats - feats.mean(0)
        w = torch.randn_like(state["fc.weight"])
        w -= (w @ mean)[:, None] * mean[None] / mean.dot(mean)
        state["fc.weight"] = w * 3.0 / (dev @ w.T).std()
    torch.save(state, path)
    return path
