"""Budgets in time (docs/routing.md, "Budgets in time"): what a row with ``unit: time`` may spend on
a group of images, by the supernet's time profile (:class:`wbsr_basicsr.routing.timing.TimeProfile`),
and, image by image, when one subnet run on the whole image does better than routing in that time.
"""
from typing import Callable, Optional, Sequence

import numpy as np

from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.timing import TimeProfile

from .patches import PatchLayout

ROUNDS = 3
"""How many times an allocation whose predicted time exceeds its budget is made again at a lower target."""


class TimeBudget:
    """Time budgets of one supernet on one device: ``timing`` predicts seconds (``image_seconds``:
    subnet ``m`` on a whole ``h`` x ``w`` image as the engine runs it), ``max_batch`` sets the
    batches the engine runs, ``calibration`` (if any) predicts quality, ``flops`` ranks subnets
    without it."""

    def __init__(self, timing: TimeProfile, image_seconds: Callable[[int, int, int], float], max_batch: int,
                 calibration: Optional[Calibration], flops: np.ndarray) -> None:
        self.timing, self.image_seconds, self.max_batch = timing, image_seconds, max_batch
        self.calibration, self.flops = calibration, flops
        self.costs = np.asarray(timing.patch)
        """Each subnet's seconds per patch: the routers' costs."""

    def whole_seconds(self, layouts: Sequence[PatchLayout], index: int = -1) -> float:
        """Predicted seconds of subnet ``index`` (default the full network) on the whole images of ``layouts``."""
        index = index % len(self.costs)
        return sum(self.image_seconds(index, layout.height, layout.width) for layout in layouts)

    def routed_seconds(self, layouts: Sequence[PatchLayout], subnet_ids: np.ndarray) -> float:
        """Predicted seconds of routing the patches of ``layouts`` (concatenated) to ``subnet_ids``."""
        bounds = np.cumsum([layout.count for layout in layouts])[:-1]
        return sum(self.timing.routed_seconds(ids, self.max_batch) for ids in np.split(subnet_ids, bounds))

    def patch_target(self, target: float, layouts: Sequence[PatchLayout]) -> float:
        """``target`` (of the full network's seconds on the whole images) as the routers take it: a
        ratio of the full network's seconds on the patches, less the engine's own work per patch, no
        less than the fastest subnet's share."""
        patches = sum(layout.count for layout in layouts)
        spend = target * self.whole_seconds(layouts) - patches * self.timing.overhead
        return float(min(1., max(self.costs.min() / self.costs[-1], spend / (patches * self.costs[-1]))))

    def fitted(self, target: float, layouts: Sequence[PatchLayout], patch_target: float,
               allocate: Callable[[float], np.ndarray]) -> np.ndarray:
        """``allocate(patch_target)``, made again at a target lowered by the predicted excess (each
        batch's call counted) while it exceeds the budget, at most :data:`ROUNDS` times."""
        ids = allocate(patch_target)
        count, lowest = sum(layout.count for layout in layouts), self.costs.min() / self.costs[-1]
        for _ in range(ROUNDS):
            excess = self.routed_seconds(layouts, ids) - target * self.whole_seconds(layouts)
            if excess <= 0 or patch_target <= lowest:
                break
            patch_target = max(lowest, patch_target - excess / (count * self.costs[-1]))
            ids = allocate(patch_target)
        return ids

    def unmeasured(self, layout: PatchLayout) -> bool:
        """Whether the image is smaller than any the profile timed: its seconds are mostly fixed costs
        that the profile does not predict, so no budget in time holds on it."""
        return layout.height * layout.width < self.timing.pixels[0]

    def small_image_choice(self, target: float, layout: PatchLayout) -> int:
        """On an :meth:`unmeasured` image: the subnet for the whole image that the smallest timed size's
        shares give ``target`` (no routing: a patch or two cannot pay for it)."""
        return self._choice(target * self.whole_seconds([layout]), float('inf'), layout)

    def unaffordable(self, target: float, layout: PatchLayout) -> Optional[int]:
        """Before any patch is scored: if routing every patch of one image to the fastest subnet already
        exceeds the budget, the subnet to run on the whole image instead (:meth:`_choice`)."""
        fastest = np.full(layout.count, int(np.argmin(self.costs)))
        allowed, cheapest = target * self.whole_seconds([layout]), self.routed_seconds([layout], fastest)
        return self._choice(allowed, cheapest, layout) if cheapest > allowed else None

    def alternative(self, target: float, layout: PatchLayout, subnet_ids: np.ndarray,
                    predict: Callable[[], np.ndarray]) -> Optional[int]:
        """Once one image is routed: the subnet to run on the whole image instead, if any. Where the
        routing exceeds the budget, as :meth:`unaffordable`; where it does not, the best subnet that fits
        the budget on the whole image if the calibration's PSNR table (``predict()``: per patch and
        subnet), averaged over the image's patches, predicts it to do at least as well as the routing."""
        allowed, routed = target * self.whole_seconds([layout]), self.routed_seconds([layout], subnet_ids)
        if routed > allowed:
            return self._choice(allowed, routed, layout)
        if self.calibration is None:
            return None
        predicted = predict()
        choice = self._choice(allowed, routed, layout, predicted.mean(0))
        routed_quality = predicted[np.arange(len(subnet_ids)), subnet_ids].mean()
        return choice if choice is not None and predicted[:, choice].mean() >= routed_quality else None

    def share(self, layout: PatchLayout, subnet_ids: Optional[np.ndarray] = None, whole: int = -1) -> float:
        """Predicted seconds over the full network's on the whole image: of routing to ``subnet_ids``, or
        of subnet ``whole`` on the whole image."""
        spent = self.whole_seconds([layout], whole) if subnet_ids is None else self.routed_seconds([layout],
                                                                                                    subnet_ids)
        return spent / self.whole_seconds([layout])

    def _choice(self, allowed: float, routed: float, layout: PatchLayout,
                quality: Optional[np.ndarray] = None) -> Optional[int]:
        """The best subnet (by ``quality``, else the calibration's mean PSNR, else FLOPs) whose whole-image
        time fits ``allowed``; if none does, the fastest when faster than the routing (``routed``
        seconds); else None."""
        whole = np.array([self.whole_seconds([layout], m) for m in range(len(self.costs))])
        fitting = np.flatnonzero(whole <= allowed)
        if not len(fitting):
            fastest = int(np.argmin(whole))
            return fastest if whole[fastest] < routed else None
        if quality is None:
            quality = self.flops if self.calibration is None else np.asarray(self.calibration.mean_psnr)
        return int(fitting[np.argmax(quality[fitting])])

