"""``image_flops``: every FLOP run on the image, overlapping patches included, against the full network
on the whole image."""
from typing import Sequence, Tuple

import numpy as np

from wbsr_basicsr.runtime.patches import PatchLayout
from wbsr_basicsr.runtime.runner import Runner

from .base import BudgetUnit, register_budget_unit


@register_budget_unit
class ImageFlops(BudgetUnit):
    name = 'image_flops'

    def patch_budget(self, runner: Runner, target: float, layouts: Sequence[PatchLayout]) -> Tuple[np.ndarray, float]:
        """The ratio that spends ``target`` of the full network's FLOPs on the whole images, no less than
        the cheapest subnet's share."""
        whole = sum(runner.net.flops(None, (layout.height, layout.width)) for layout in layouts)
        patches = sum(layout.count for layout in layouts)
        costs = runner.costs
        return costs, float(min(1., max(costs.min() / costs[-1], target * whole / (patches * costs[-1]))))

    def spent(self, result) -> float:
        return result.honest_percent / 100
