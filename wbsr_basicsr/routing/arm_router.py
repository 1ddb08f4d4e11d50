"""ARM's router (Chen et al., ECCV 2022) on a WBSR supernet: Table 1's "+ARM" row.

A patch's edge score is the mean absolute 3 x 3 Laplacian of its grey LR patch (grey levels
0-255). :class:`.edges.EdgeTable` holds each subnet's mean PSNR over calibration patches in equal-width
edge-score bins (built by :mod:`.calibration` on a set disjoint from the test sets); a patch
takes ``argmax_m PSNR_m(bin) - eta C_m / C_t``, with ``eta`` solved for a FLOPs target by
:func:`wbsr_basicsr.routing.budget.lagrangian_allocation` (ARM sets it by hand per test set):
``{mode: arm, target: R[, scope: image|dataset]}``.
"""
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

import numpy as np
from torch import Tensor

from .base import Group, BudgetedRouter, Features, PatchRunner, RoutingData, register_router
from .budget import lagrangian_allocation
from .calibration import Calibration
from .edges import edge_score_flops, edge_scores


@register_router
@dataclass(frozen=True)
class ArmRouter(BudgetedRouter):
    """ARM's router held to a FLOPs target; it spends the target even where its table says fewer
    FLOPs would do (docs/routing.md, "ARM's router")."""

    mode: ClassVar[str] = 'arm'
    title: ClassVar[str] = 'ARM'
    feature: ClassVar[str] = 'edges'

    def needs(self) -> Tuple[type, ...]:
        return (Calibration,)

    def measure(self, patches: Tensor, gt: Optional[Tensor], data: RoutingData, runner: PatchRunner) -> Features:
        return {'edges': edge_scores(patches)}

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        predicted = data.get(Calibration).edge_table.predict(group.features['edges'])
        return lagrangian_allocation(-predicted, group.costs, group.target, spend=True)

    def flops(self, data: RoutingData, patch_size: int, channels: int) -> float:
        return float(edge_score_flops(patch_size, channels))
