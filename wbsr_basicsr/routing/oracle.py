"""The routing oracle: the best any router can do on this supernet (analysis only; it needs GT).

Every subnet runs on every patch; each patch's squared error under each subnet gives the
allocation that minimises the total error at a target average cost (docs/routing.md, "The
oracle"). A router that sees only the LR patch cannot beat it at equal FLOPs.
"""
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.archs.slimmable import SlimmableSupernet

from .budget import split_to_target

BISECTION_STEPS = 100


@torch.no_grad()
def patch_errors(net: SlimmableSupernet, patches: Tensor, gt: Tensor, corners: Sequence[Sequence[int]],
                 max_batch: int = 256) -> np.ndarray:
    """``(N, M)``: the mean squared error (RGB, values in [0, 1]) of patch ``n``'s SR output under
    subnet ``m`` against the GT region above it. ``gt`` is ``(1, C, H*s, W*s)``, padded like the LR
    image if that was smaller than a patch."""
    errors = np.empty((len(patches), len(net.subnets)))
    for m, subnet in enumerate(net.subnets):
        with net.subnet(subnet):
            for start in range(0, len(patches), max_batch):
                sr = net(patches[start:start + max_batch]).clamp(0, 1)
                size = sr.shape[-1]
                scale = size // patches.shape[-1]
                targets = torch.cat([gt[..., top * scale:top * scale + size, left * scale:left * scale + size]
                                     for top, left in corners[start:start + max_batch]])
                errors[start:start + len(sr), m] = F.mse_loss(sr, targets, reduction='none').mean((1, 2, 3)).cpu()
    return errors


def oracle_allocation(errors: np.ndarray, costs: Sequence[float], target_ratio: float) -> np.ndarray:
    """The subnet per patch that minimises the summed ``errors`` ``(N, M)`` at a mean cost of
    ``target_ratio`` x the full cost: per patch ``argmin_m errors + lambda C_m`` (Lagrangian
    relaxation), ``lambda`` by bisection, then the boundary split between the allocations on
    either side of the target, the patches that gain most error per unit of cost first."""
    if not 0 < target_ratio <= 1:
        raise ValueError(f'oracle target must lie in (0, 1], got {target_ratio}.')
    costs = np.asarray(costs, dtype=np.float64) / max(costs)
    rows = np.arange(len(errors))

    def allocate(weight: float) -> np.ndarray:
        return np.argmin(errors + weight * costs[None, :], axis=1)

    cheap, dear = 0., 1.
    while costs[allocate(dear)].mean() > target_ratio and dear < 1e12:
        dear *= 2
    if costs[allocate(cheap)].mean() <= target_ratio:
        return allocate(cheap)  # the least error is within budget: more FLOPs would not help
    for _ in range(BISECTION_STEPS):
        middle = (cheap + dear) / 2
        if costs[allocate(middle)].mean() > target_ratio:
            cheap = middle
        else:
            dear = middle
    lower, upper = allocate(dear), allocate(cheap)
    gain = (errors[rows, lower] - errors[rows, upper]) / np.maximum(costs[upper] - costs[lower], 1e-12)
    return split_to_target(lower, upper, gain, costs, target_ratio)
