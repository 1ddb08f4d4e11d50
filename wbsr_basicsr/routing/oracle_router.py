"""The routing oracle: the best any router can do on this supernet (analysis only; it needs GT).

Every subnet runs on every patch; each patch's squared error under each subnet gives the
allocation that minimises the total error at a target average cost
(:func:`.budget.lagrangian_allocation`; docs/routing.md, "The oracle"):
``{mode: oracle, target: R[, scope: image|dataset]}``. A router that sees only the LR patch cannot
beat it at equal FLOPs. The same errors, measured on a calibration set, give ARM's table and the
Pareto ladder (:func:`wbsr_basicsr.routing.measure_calibration.measure_calibration`).
"""
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .base import Group, BudgetedRouter, Features, PatchRunner, RoutingData, register_router
from .budget import lagrangian_allocation


@torch.no_grad()
def patch_errors(runner: PatchRunner, num_subnets: int, patches: Tensor, targets: Tensor) -> np.ndarray:
    """``(N, M)``: the mean squared error (RGB, values in [0, 1]) of LR patch ``n``'s SR output
    under subnet ``m`` against its GT patch ``targets[n]``, in batches of ``runner.max_batch``."""
    errors = np.empty((len(patches), num_subnets))
    for start in range(0, len(patches), runner.max_batch):
        batch, target = patches[start:start + runner.max_batch], targets[start:start + runner.max_batch]
        for m in range(num_subnets):
            sr = runner.run(m, batch).float().clamp(0, 1)
            errors[start:start + len(batch), m] = F.mse_loss(sr, target, reduction='none').mean((1, 2, 3)).cpu().numpy()
    return errors


def psnr_of_errors(errors: np.ndarray) -> np.ndarray:
    """PSNR (dB, peak 1) of mean squared errors, floored at 1e-10 (100 dB)."""
    return -10 * np.log10(np.maximum(errors, 1e-10))


@register_router
@dataclass(frozen=True)
class OracleRouter(BudgetedRouter):
    """The least-error allocation at a FLOPs target; its FLOPs column is the allocation's cost
    (running every subnet is the price of the analysis, not counted)."""

    mode: ClassVar[str] = 'oracle'
    feature: ClassVar[str] = 'errors'
    needs_gt: ClassVar[bool] = True

    def measure(self, patches: Tensor, gt: Optional[Tensor], data: RoutingData, runner: PatchRunner) -> Features:
        return {'errors': patch_errors(runner, runner.num_subnets, patches, gt)}

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        return lagrangian_allocation(group.features['errors'], group.costs, group.target)
