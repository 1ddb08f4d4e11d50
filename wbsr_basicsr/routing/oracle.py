"""The routing oracle: the best any router can do on this supernet (analysis only; it needs GT).

Every subnet runs on every patch; each patch's squared error under each subnet gives the
allocation that minimises the total error at a target average cost
(:func:`wbsr_basicsr.routing.budget.lagrangian_allocation`; docs/routing.md, "The oracle"). A
router that sees only the LR patch cannot beat it at equal FLOPs. The same errors, measured on
a calibration set, give ARM's table and the Pareto ladder (:mod:`.calibration`).
"""
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.models.patches import PatchLayout, channels_last


def gt_patches(gt: Tensor, layout: PatchLayout, indices: Optional[Sequence[int]] = None) -> Tensor:
    """``(N, C, P*s, P*s)``: the GT region above each LR patch of ``layout`` (those at ``indices``;
    default all); ``gt`` is ``(1, C, H*s, W*s)``, padded here as the LR image was if smaller than a patch."""
    scale = gt.shape[-1] // layout.width
    pad_h, pad_w = layout.padding
    if pad_h or pad_w:
        gt = F.pad(gt, (0, pad_w * scale, 0, pad_h * scale), mode='replicate')
    size, corners = layout.patch_size * scale, layout.corners
    chosen = range(len(corners)) if indices is None else indices
    return torch.cat([gt[..., corners[i][0] * scale:corners[i][0] * scale + size,
                         corners[i][1] * scale:corners[i][1] * scale + size] for i in chosen])


@torch.no_grad()
def patch_errors(net: SlimmableSupernet, patches: Tensor, targets: Tensor) -> np.ndarray:
    """``(N, M)``: the mean squared error (RGB, values in [0, 1]) of LR patch ``n``'s SR output
    under subnet ``m`` against its GT patch ``targets[n]``; one batch per subnet."""
    errors = np.empty((len(patches), len(net.subnets)))
    batch = channels_last(patches)
    for m, subnet in enumerate(net.subnets):
        with net.subnet(subnet):
            sr = net(batch).clamp(0, 1)
        errors[:, m] = F.mse_loss(sr, targets, reduction='none').mean((1, 2, 3)).cpu().numpy()
    return errors


def psnr_of_errors(errors: np.ndarray) -> np.ndarray:
    """PSNR (dB, peak 1) of mean squared errors, floored at 1e-10 (100 dB)."""
    return -10 * np.log10(np.maximum(errors, 1e-10))
