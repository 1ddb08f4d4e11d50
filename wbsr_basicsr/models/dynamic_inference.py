"""Gradient-projection dynamic inference (paper Sec. 4.2, Eq. 15-16, Fig. 2b).

The LR image is chopped into ``patch_size`` patches every ``stride`` pixels, with one more
patch aligned to each border so that every pixel is covered (ClassSR and ARM drop the border
instead). Each patch gets its gradient vector and Eq. 7 class from the shared helper, a subnet
from a routing rule, and all patches of one subnet run as batches. The SR patches are merged
by averaging where they overlap. Routing rules, as DESIGN.md reads them:

- ``ceil`` (Eq. 15): class ``k`` in 1..K goes to subnet ``m = ceil(k M / K)`` of the M subnets
  ordered by cost;
- ``budget`` (Eq. 16): ``m = argmin_m |C_m - alpha (k / K) C_t|``, with ``C_t`` the full
  network's cost;
- ``target_flops``: the ``budget`` rule with the ``alpha`` whose average cost on calibration
  classes is closest to a target ratio of the full cost.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.utils.gradient_stats import assign_classes, difficulty_scores, grid_positions, patch_gradient_vectors


@dataclass(frozen=True)
class PatchLayout:
    """Where the patches of one (padded) LR image lie."""

    tops: Tuple[int, ...]
    lefts: Tuple[int, ...]
    patch_size: int
    height: int  # of the image before padding
    width: int

    @classmethod
    def cover(cls, height: int, width: int, patch_size: int, stride: int) -> 'PatchLayout':
        """Patches every ``stride`` plus border-aligned ones; sides below ``patch_size`` are padded."""
        if not 0 < stride <= patch_size:
            raise ValueError(f'stride must lie in (0, patch_size={patch_size}], got {stride}.')
        padded_h, padded_w = max(height, patch_size), max(width, patch_size)
        return cls(tuple(grid_positions(padded_h, patch_size, stride)),
                   tuple(grid_positions(padded_w, patch_size, stride)), patch_size, height, width)

    @property
    def corners(self) -> List[Tuple[int, int]]:
        return [(top, left) for top in self.tops for left in self.lefts]

    @property
    def padding(self) -> Tuple[int, int]:
        """Pixels added at the bottom and right so that the image holds one patch."""
        return max(0, self.patch_size - self.height), max(0, self.patch_size - self.width)


def chop(image: Tensor, layout: PatchLayout) -> Tensor:
    """``(1, C, H, W)`` -> ``(N, C, P, P)`` patches at ``layout.corners`` (replicate-padded if small)."""
    pad_h, pad_w = layout.padding
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode='replicate')
    size = layout.patch_size
    return torch.cat([image[..., top:top + size, left:left + size] for top, left in layout.corners])


def merge(outputs: Tensor, layout: PatchLayout, scale: int) -> Tensor:
    """Average ``(N, C, P*s, P*s)`` SR patches into the ``(1, C, H*s, W*s)`` SR image."""
    size = layout.patch_size * scale
    pad_h, pad_w = layout.padding
    height, width = (layout.height + pad_h) * scale, (layout.width + pad_w) * scale
    total = outputs.new_zeros(1, outputs.shape[1], height, width)
    count = outputs.new_zeros(1, 1, height, width)
    for patch, (top, left) in zip(outputs, layout.corners):
        total[..., top * scale:top * scale + size, left * scale:left * scale + size] += patch
        count[..., top * scale:top * scale + size, left * scale:left * scale + size] += 1
    return (total / count)[..., :layout.height * scale, :layout.width * scale]


def route_ceil(classes: np.ndarray, num_classes: int, num_subnets: int) -> np.ndarray:
    """Eq. 15: class index ``c`` (0-based, ``k = c + 1``) -> subnet ``ceil(k M / K) - 1`` (0-based)."""
    k = np.asarray(classes) + 1
    return -(-k * num_subnets // num_classes) - 1


def route_budget(classes: np.ndarray, num_classes: int, costs: Sequence[float], alpha: float) -> np.ndarray:
    """Eq. 16 as DESIGN.md reads it: ``argmin_m |C_m - alpha (k / K) C_t|``, ``C_t = max(costs)``."""
    costs = np.asarray(costs, dtype=np.float64)
    wanted = alpha * (np.asarray(classes) + 1) / num_classes * costs.max()
    return np.abs(costs[None, :] - wanted[:, None]).argmin(axis=1)


def alpha_for_target(classes: np.ndarray, num_classes: int, costs: Sequence[float], target_ratio: float) -> float:
    """The ``alpha`` of :func:`route_budget` whose average cost on ``classes`` is closest to
    ``target_ratio`` x the full cost. The average is a step function of ``alpha`` that changes
    only where ``alpha (k / K) C_t`` crosses a midpoint between two costs; one candidate per
    step is checked."""
    if not 0 < target_ratio <= 1:
        raise ValueError(f'target_flops must lie in (0, 1], got {target_ratio}.')
    costs = np.asarray(costs, dtype=np.float64)
    if np.any(np.diff(costs) < 0):
        raise ValueError('costs must be in ascending order, as the supernet lists its subnets.')
    levels = np.unique(np.asarray(classes) + 1) / num_classes
    midpoints = (costs[1:] + costs[:-1]) / 2 / costs.max()
    breaks = np.unique((midpoints[:, None] / levels[None, :]).ravel())
    candidates = np.concatenate([[breaks[0] / 2], (breaks[1:] + breaks[:-1]) / 2, [breaks[-1] * 2]])
    ratios = [costs[route_budget(classes, num_classes, costs, a)].mean() / costs.max() for a in candidates]
    return float(candidates[int(np.argmin(np.abs(np.asarray(ratios) - target_ratio)))])


def patch_classes(patches: Tensor, thresholds: Sequence[float]) -> np.ndarray:
    """Eq. 7 class of every patch, from the shared gradient statistics."""
    return assign_classes(difficulty_scores(patch_gradient_vectors(patches)).cpu().numpy(), thresholds)


@torch.no_grad()
def run_routed(net: SlimmableSupernet, patches: Tensor, subnet_ids: np.ndarray, max_batch: int = 256) -> Tensor:
    """Run each patch through the subnet ``net.subnets[id]`` it was routed to, all patches of one
    subnet as batches of at most ``max_batch``; the full network is selected again afterwards."""
    outputs = None
    try:
        for index in np.unique(subnet_ids):
            net.set_subnet(net.subnets[int(index)])
            rows = np.flatnonzero(subnet_ids == index)
            for start in range(0, len(rows), max_batch):
                chunk = torch.as_tensor(rows[start:start + max_batch], device=patches.device)
                result = net(patches[chunk])
                if outputs is None:
                    outputs = result.new_empty(len(patches), *result.shape[1:])
                outputs[chunk] = result
    finally:
        net.set_subnet(None)
    return outputs
