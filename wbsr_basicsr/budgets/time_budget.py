"""``time``: the predicted seconds against the full network's on the whole image, by the supernet's time
profile (:class:`wbsr_basicsr.runtime.timing.TimeProfile`), and, image by image, one subnet run on the
whole image where that does better than routing in the same time (docs/routing.md, "Budgets in time").
"""
from typing import Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from wbsr_basicsr.runtime.patches import PatchLayout
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile

from .base import Allocate, BudgetUnit, Quality, WholeImage, register_budget_unit

ROUNDS = 3
"""How many times an allocation whose predicted time exceeds its budget is made again at a lower target."""


@register_budget_unit
class Time(BudgetUnit):
    name = 'time'
    needs = (TimeProfile,)

    def patch_budget(self, runner: Runner, target: float, layouts: Sequence[PatchLayout]) -> Tuple[np.ndarray, float]:
        """Each subnet's seconds per patch, and ``target`` (of the full network's seconds on the whole
        images) as a ratio of the full network's seconds on the patches, less the runner's own work per
        patch, no less than the fastest subnet's share."""
        costs, patches = np.asarray(runner.timing.patch), sum(layout.count for layout in layouts)
        spend = target * whole_seconds(runner, layouts) - patches * runner.timing.overhead
        return costs, float(min(1., max(costs.min() / costs[-1], spend / (patches * costs[-1]))))

    def fitted(self, runner: Runner, target: float, layouts: Sequence[PatchLayout], patch_target: float,
               allocate: Allocate) -> np.ndarray:
        """``allocate(patch_target)``, made again at a target lowered by the predicted excess (each batch's
        call counted) while it exceeds the budget, at most :data:`ROUNDS` times."""
        ids = allocate(patch_target)
        costs = np.asarray(runner.timing.patch)
        count, lowest = sum(layout.count for layout in layouts), costs.min() / costs[-1]
        for _ in range(ROUNDS):
            excess = routed_seconds(runner, layouts, ids) - target * whole_seconds(runner, layouts)
            if excess <= 0 or patch_target <= lowest:
                break
            patch_target = max(lowest, patch_target - excess / (count * costs[-1]))
            ids = allocate(patch_target)
        return ids

    def before_routing(self, runner: Runner, target: float, layout: PatchLayout,
                       calibration: Optional[Quality]) -> Optional[WholeImage]:
        """On an image smaller than the profile timed (:meth:`TimeProfile.times`: no routing, a patch or two
        cannot pay for it), or one whose fastest routing already exceeds the budget: the subnet to run on
        the whole image instead."""
        allowed = target * whole_seconds(runner, [layout])
        if not runner.timing.times(layout.height * layout.width):
            return WholeImage(whole_choice(runner, allowed, float('inf'), layout, calibration), unmeasured=True)
        fastest = np.full(layout.count, int(np.argmin(runner.timing.patch)))
        cheapest = routed_seconds(runner, [layout], fastest)
        index = whole_choice(runner, allowed, cheapest, layout, calibration) if cheapest > allowed else None
        return None if index is None else WholeImage(index)

    def after_routing(self, runner: Runner, target: float, layout: PatchLayout, ids: np.ndarray, patches: Tensor,
                      calibration: Optional[Quality]) -> Optional[WholeImage]:
        """Once one image is routed: where the routing exceeds the budget, as before routing; where it does
        not, the best subnet that fits the budget on the whole image if the calibration's PSNR table,
        averaged over the image's patches, predicts it to do at least as well as the routing."""
        allowed, routed = target * whole_seconds(runner, [layout]), routed_seconds(runner, [layout], ids)
        if routed > allowed:
            index = whole_choice(runner, allowed, routed, layout, calibration)
            return None if index is None else WholeImage(index)
        if calibration is None:
            return None
        predicted = calibration.predict(patches)
        choice = whole_choice(runner, allowed, routed, layout, calibration, predicted.mean(0))
        routed_quality = predicted[np.arange(len(ids)), ids].mean()
        return WholeImage(choice) if choice is not None and predicted[:, choice].mean() >= routed_quality else None

    def share(self, runner: Runner, layout: PatchLayout, ids: Optional[np.ndarray] = None,
              whole: Optional[int] = None) -> Optional[float]:
        """Predicted seconds over the full network's on the whole image: of routing to ``ids``, or of subnet
        ``whole`` on the whole image."""
        spent = routed_seconds(runner, [layout], ids) if ids is not None else whole_seconds(
            runner, [layout], -1 if whole is None else whole)
        return spent / whole_seconds(runner, [layout])

    def spent(self, result) -> Optional[float]:
        return result.time_share


def whole_seconds(runner: Runner, layouts: Sequence[PatchLayout], index: int = -1) -> float:
    """Predicted seconds of subnet ``index`` (default the full network) on the whole images of ``layouts``."""
    index = index % runner.num_subnets
    return sum(runner.subnet_image_seconds(index, layout.height, layout.width) for layout in layouts)


def routed_seconds(runner: Runner, layouts: Sequence[PatchLayout], subnet_ids: np.ndarray) -> float:
    """Predicted seconds of routing the patches of ``layouts`` (concatenated) to ``subnet_ids``."""
    bounds = np.cumsum([layout.count for layout in layouts])[:-1]
    return sum(runner.timing.routed_seconds(ids, runner.max_batch) for ids in np.split(subnet_ids, bounds))


def whole_choice(runner: Runner, allowed: float, routed: float, layout: PatchLayout, calibration: Optional[Quality],
                 quality: Optional[np.ndarray] = None) -> Optional[int]:
    """The best subnet (by ``quality``, else the calibration's mean PSNR, else FLOPs) whose whole-image time
    fits ``allowed`` seconds; if none does, the fastest when faster than the routing (``routed`` seconds);
    else None."""
    whole = np.array([whole_seconds(runner, [layout], m) for m in range(runner.num_subnets)])
    fitting = np.flatnonzero(whole <= allowed)
    if not len(fitting):
        fastest = int(np.argmin(whole))
        return fastest if whole[fastest] < routed else None
    if quality is None:
        quality = runner.costs if calibration is None else np.asarray(calibration.mean_psnr)
    return int(fitting[np.argmax(quality[fitting])])
