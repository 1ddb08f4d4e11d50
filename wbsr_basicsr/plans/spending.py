"""Closed-loop spending of a time budget (docs/routing.md, "Plans", closed loop): the time profile
predicts seconds measured once, on a quiet machine; a run corrects them by what it measures.

:class:`Corrections` compares, per subnet, the seconds measured running plans on this run with
the seconds the profile predicted for the same pieces, and scales the profile's predictions by
that ratio (a subnet not run yet takes the larger ratio of its nearest neighbours that have).
Per image (:class:`EachImage`), the corrections carry from image to image. Over a folder
(:class:`FolderSpending`), a probe first times the full network on a crop of the first image
(:meth:`Corrections.probe`, where the folder's budget is large enough to pay for it), so that the
full network's ratio, the base of the budget, is measured and not assumed; then each image is
planned just before it runs: the budget left is ``target`` x the folder's corrected full-network
seconds, less the pricing's seconds and the seconds measured so far, and the rest of the folder is
planned within it, so the folder's total lands near its budget even when the profile is off.
"""
from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence, Union

import numpy as np
from torch import Tensor

from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.utils.clock import time_once

from .planner import Plan, Planner, PricedImage

PROBE_SIDE = 96
"""The side, in LR pixels, of the crop the probe times (:meth:`Corrections.probe`; one the profiles time)."""
PROBE_SHARE = 0.05
"""The most of a folder's budget the probe may take (by the profile); a folder too small for it is not probed."""


@dataclass
class Corrections:
    """Per subnet (``count`` of them, cheapest first), the seconds measured running plans and the
    seconds the profile predicted for the same pieces."""

    count: int
    measured: np.ndarray = field(init=False)
    predicted: np.ndarray = field(init=False)
    probed: bool = False

    def __post_init__(self) -> None:
        self.measured, self.predicted = np.zeros(self.count), np.zeros(self.count)

    def probe(self, runner: Runner, lq: Tensor, budget: float) -> None:
        """Once: time the full network on a crop of ``lq`` (:data:`PROBE_SIDE`), one run after a warm-up,
        against the profile's seconds for that crop; nothing on an image smaller than the profile timed,
        nor where the two runs are predicted to take more than :data:`PROBE_SHARE` of ``budget`` seconds
        (a folder of a few small images: the probe would spend the budget it is to correct)."""
        if self.probed:
            return
        self.probed = True
        height, width = (min(PROBE_SIDE, side) for side in lq.shape[-2:])
        full = self.count - 1
        predicted = runner.subnet_image_seconds(full, height, width)
        if not runner.timing.times(height * width) or 2 * predicted > PROBE_SHARE * budget:
            return
        crop = lq[..., :height, :width]
        runner.run_whole(full, crop)
        self.measured[full] += time_once(lambda: runner.run_whole(full, crop), lq.device)
        self.predicted[full] += predicted

    def record(self, image: PricedImage, plan: Plan, seconds: float) -> None:
        """``plan``, made for ``image`` (as priced, uncorrected), ran in ``seconds`` (measured, without
        pricing): they are shared among its subnets in proportion to the profile's seconds for them."""
        option = next(option for option in image.options if option.unit is plan.unit)
        rows = np.arange(len(plan.ids))
        predicted = np.bincount(plan.ids, weights=option.seconds[rows, plan.ids], minlength=self.count)
        if predicted.sum() > 0:
            self.predicted += predicted
            self.measured += seconds * predicted / predicted.sum()

    def factors(self) -> np.ndarray:
        """``(count,)``: each subnet's measured over predicted seconds; a subnet not run yet takes the
        larger factor of the nearest that have, cheaper and dearer (1 before any has): a guess that
        errs towards time left over rather than an overspent budget."""
        ran = np.flatnonzero(self.predicted > 0)
        if not len(ran):
            return np.ones(self.count)
        ratios = self.measured[ran] / self.predicted[ran]
        position = np.searchsorted(ran, np.arange(self.count))
        factors = np.maximum(ratios[np.minimum(position, len(ran) - 1)], ratios[np.maximum(position - 1, 0)])
        factors[ran] = ratios
        return factors

    def corrected(self, image: PricedImage, factors: np.ndarray) -> PricedImage:
        """``image`` with every predicted second scaled by its subnet's factor (the full network's last)."""
        options = tuple(replace(option, seconds=option.seconds * factors) for option in image.options)
        return replace(image, options=options, full_seconds=image.full_seconds * factors[-1])


class FolderSpending:
    """A folder's time budget spent closed-loop: ``target`` x the full network's corrected seconds over
    the priced ``images``, each image planned by ``planner`` just before it runs (:meth:`plan`)."""

    def __init__(self, planner: Planner, images: Sequence[PricedImage], target: float,
                 corrections: Corrections) -> None:
        self.planner, self.images, self.target, self.corrections = planner, list(images), target, corrections
        self.spent = 0.
        self.full = sum(image.full_seconds for image in self.images)  # uncorrected
        self.pricing = sum(image.pricing_seconds for image in self.images)

    def plan(self, index: int, lq: Tensor) -> Plan:
        """Image ``index``'s plan (``lq``: the image): the rest of the folder planned within the budget left."""
        self.corrections.probe(self.planner.runner, lq, self.target * self.full)
        factors = self.corrections.factors()
        budget = self.target * self.full * factors[-1] - self.pricing - self.spent
        rest: List[PricedImage] = [self.corrections.corrected(image, factors) for image in self.images[index:]]
        return self.planner.plan_within(rest, budget, sum(image.full_seconds for image in rest),
                                        sum(image.pricing_seconds for image in rest))[0]

    def record(self, index: int, plan: Plan, run_seconds: float, seconds: float) -> None:
        """Image ``index`` ran ``plan`` in ``run_seconds`` and took ``seconds`` in all (its planning too)."""
        self.corrections.record(self.images[index], plan, run_seconds)
        self.spent += seconds


@dataclass(frozen=True)
class Turn:
    """Image ``index`` of a folder's closed-loop ``spending``: planned when its turn comes."""

    spending: FolderSpending
    index: int

    def plan(self, lq: Tensor) -> Plan:
        return self.spending.plan(self.index, lq)

    def record(self, plan: Plan, run_seconds: float, seconds: float) -> None:
        self.spending.record(self.index, plan, run_seconds, seconds)


@dataclass(frozen=True)
class Fixed:
    """A plan made before the run (open loop): run as planned, its seconds not fed back."""

    planned: Plan

    def plan(self, lq: Tensor) -> Plan:
        return self.planned

    def record(self, plan: Plan, run_seconds: float, seconds: float) -> None:
        """Nothing: an open loop does not look back."""


class EachImage:
    """A time budget held on every image: each priced and planned on its own, with the predicted seconds
    corrected by what the images before it measured (no probe: on one image its seconds would be
    spent twice over; ``corrections`` None: the profile as it is, open loop)."""

    def __init__(self, planner: Planner, target: float, corrections: Optional[Corrections]) -> None:
        self.planner, self.target, self.corrections = planner, target, corrections
        self.priced: Optional[PricedImage] = None

    def plan(self, lq: Tensor) -> Plan:
        self.priced = priced = self.planner.price(lq)
        if self.corrections is not None:
            priced = self.corrections.corrected(priced, self.corrections.factors())
        return self.planner.plan([priced], self.target)[0]

    def record(self, plan: Plan, run_seconds: float, seconds: float) -> None:
        if self.corrections is not None:
            self.corrections.record(self.priced, plan, run_seconds)


def folder_spendings(planner: Planner, images: Sequence[PricedImage], target: float,
                     corrections: Optional[Corrections]) -> List['Spending']:
    """How each of a folder's priced ``images`` is planned: its turn in one closed-loop
    :class:`FolderSpending`, or (``corrections`` None: open loop) its plan made now for all of them."""
    if corrections is None:
        return [Fixed(plan) for plan in planner.plan(images, target)]
    spending = FolderSpending(planner, images, target, corrections)
    return [Turn(spending, index) for index in range(len(images))]


Spending = Union[Turn, EachImage, Fixed]
"""How one image's plan is made and its seconds recorded: ``plan(lq)``, then ``record(plan, run_seconds,
seconds)`` once it ran (``run_seconds`` running it, ``seconds`` in all)."""
