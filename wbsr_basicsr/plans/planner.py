"""The planner of time budgets (docs/routing.md, "Plans"): for a budget of ``target`` x the full
network's predicted seconds, over one image or a folder, it prices every routing unit (:mod:`.base`)
and runs the allocation predicted best.

Per image, :meth:`Planner.price` predicts each subnet's PSNR on every routing patch by the
calibration (its quality model, :mod:`wbsr_basicsr.routing.quality_model`; without a
calibration each subnet's share of the full network's FLOPs stands in for its quality), gives each
piece of each unit the mean over the patches it owns, weighted by its share of the image, and its
seconds by the time profile. :meth:`Planner.plan` then solves, per unit, the choice of a subnet per
piece under the budget (:func:`wbsr_basicsr.routing.budget.greedy_choice`; at folder scope over
every piece of every image, so hard images take larger subnets) and keeps the unit whose
allocation is predicted best within the budget; an allocation that mixes subnets only if it is
predicted better than one subnet everywhere by more than the quality model's held-out error
(:meth:`Planner.margin`).
"""
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.routing.budget import greedy_choice
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.runtime.patches import chop
from wbsr_basicsr.runtime.pieces import Pieces
from wbsr_basicsr.runtime.runner import Runner

from .base import RoutingUnit

TOLERANCE = 0.05
"""How far from its budget a plan may be (a share of it) before the planner looks past it (:meth:`Planner.plan`)."""


@dataclass(frozen=True)
class Priced:
    """One image under one unit: its pieces, the piece owning each routing patch, and per piece and
    subnet the predicted quality (mean patch PSNR times the piece's weight) and seconds."""

    unit: RoutingUnit
    pieces: Pieces
    owners: np.ndarray  # (N,)
    value: np.ndarray  # (P, M)
    seconds: np.ndarray  # (P, M)


@dataclass(frozen=True)
class PricedImage:
    """One LR image priced under every unit, with the full network's predicted seconds on it and the
    seconds the pricing took."""

    options: Tuple[Priced, ...]
    full_seconds: float
    pricing_seconds: float


@dataclass(frozen=True)
class Plan:
    """What runs on one image: an allocation of ``priced``'s pieces (``ids``), its predicted seconds
    and quality (mean PSNR), against the full network's predicted seconds, and the seconds pricing
    the image took (``pricing``, measured: the budget holds them too); ``others``: the other
    units' predicted quality (mean over the images) and share of the full time, at the same budget,
    over the ``images`` the plan was made with (more than one at folder scope: then ``group``
    holds this unit's own figures over them)."""

    priced: Priced
    ids: np.ndarray
    seconds: float
    quality: float
    full_seconds: float
    others: Dict[str, Tuple[float, float]]
    pricing: float = 0.
    calibrated: bool = True  # False: ``quality`` is a FLOPs share, not a PSNR
    images: int = 1
    group: Tuple[float, float] = (0., 0.)

    @property
    def unit(self) -> RoutingUnit:
        return self.priced.unit

    @property
    def patch_ids(self) -> np.ndarray:
        """The subnet of each routing patch: that of the piece owning it (usage, maps)."""
        return self.ids[self.priced.owners]

    @property
    def share(self) -> float:
        """The plan's seconds, pricing included, over the full network's."""
        return (self.seconds + self.pricing) / self.full_seconds

    def describe(self, subnets: Sequence[Tuple[int, int]]) -> str:
        """E.g. ``tile160: 48x12 x3, 40x6 x1``."""
        used, counts = np.unique(self.ids, return_counts=True)
        parts = [f'{subnets[m][0]}x{subnets[m][1]}' + (f' x{n}' if self.priced.pieces.count > 1 else '')
                 for m, n in zip(used[::-1], counts[::-1])]
        return f'{self.unit.label}: {", ".join(parts)}'


class Planner:
    """Plans of ``runner``'s supernet over ``units``, priced by its time profile and, if given, the
    supernet's ``calibration``."""

    def __init__(self, runner: Runner, units: Sequence[RoutingUnit], calibration: Optional[Calibration]) -> None:
        self.runner, self.units, self.calibration = runner, tuple(units), calibration
        self.timing = runner.timing

    @torch.no_grad()
    def price(self, lq: Tensor) -> PricedImage:
        """``lq`` ``(1, C, H, W)`` priced under every unit."""
        started = time.perf_counter()
        height, width = lq.shape[-2:]
        layout = self.runner.layout(lq)
        predicted = self._predicted(chop(lq, layout))
        corners = np.array(layout.corners, dtype=np.int64).reshape(-1, 2)
        centers = np.minimum(corners + layout.patch_size // 2, [height - 1, width - 1])
        options = tuple(self._priced(unit, unit.pieces(height, width, self.runner), centers, predicted)
                        for unit in self.units)
        full_seconds = self.runner.subnet_image_seconds(-1, height, width)  # as --full runs
        return PricedImage(options, full_seconds, time.perf_counter() - started)

    def _predicted(self, patches: Tensor) -> np.ndarray:
        """``(N, M)``: each subnet's predicted PSNR on each patch, or without a calibration its FLOPs share."""
        if self.calibration is not None:
            return self.calibration.predict(patches)
        costs = self.runner.costs
        return np.broadcast_to(costs / costs[-1], (len(patches), len(costs)))

    def _priced(self, unit: RoutingUnit, pieces: Pieces, centers: np.ndarray, predicted: np.ndarray) -> Priced:
        owners = unit.owners(pieces, centers)
        counts = np.bincount(owners, minlength=pieces.count)
        sums = np.stack([np.bincount(owners, weights=column, minlength=pieces.count) for column in predicted.T], 1)
        quality = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], predicted.mean(0))
        return Priced(unit, pieces, owners, unit.weights(pieces)[:, None] * quality,
                      unit.seconds(pieces, self.timing, self.runner))

    def plan(self, images: Sequence[PricedImage], target: float) -> List[Plan]:
        """One plan per image, spending ``target`` x the full network's predicted seconds over all of
        ``images`` (the pricing's own seconds included), with one unit for all of them: the one
        predicted best within the budget (else the fastest). Where that leaves more than
        :data:`TOLERANCE` of the budget unspent (the subnets' steps are coarse on one image), the best
        within :data:`TOLERANCE` over it runs instead if predicted better."""
        full = sum(image.full_seconds for image in images)
        pricing = sum(image.pricing_seconds for image in images)
        return self.plan_within(images, target * full - pricing, full, pricing)

    def plan_within(self, images: Sequence[PricedImage], budget: float, full: float, pricing: float) -> List[Plan]:
        """One plan per image within ``budget`` seconds over ``images`` (:meth:`plan`); ``full`` and
        ``pricing``: the full network's and the pricing's seconds the plans' shares are of."""
        best = self._best(images, budget)
        if best.seconds < (1 - TOLERANCE) * budget:
            loose = self._best(images, (1 + TOLERANCE) * budget)
            best = loose if loose.quality > best.quality else best
        others = {self.units[candidate.index].label: (candidate.quality / len(images),
                                                      (candidate.seconds + pricing) / full)
                  for candidate in best.others}
        group = (best.quality / len(images), (best.seconds + pricing) / full)
        plans = []
        for image, ids in zip(images, best.ids):
            priced = image.options[best.index]
            rows = np.arange(len(ids))
            plans.append(Plan(priced, ids, float(priced.seconds[rows, ids].sum()), float(priced.value[rows, ids].sum()),
                              image.full_seconds, others, image.pricing_seconds, self.calibration is not None,
                              len(images), group))
        return plans

    def _best(self, images: Sequence[PricedImage], budget: float) -> 'Candidate':
        """The unit predicted best within ``budget`` over ``images`` (else the fastest), the others beside it;
        a mixed allocation only if predicted better than one subnet everywhere by more than :meth:`margin`."""
        candidates = [self._allocated(images, index, budget) for index in range(len(self.units))]
        best = _best_within(candidates, budget)
        if best.mixed:
            uniform = _best_within([self._uniform(images, index, budget) for index in range(len(self.units))], budget)
            if best.quality - uniform.quality <= len(images) * self.margin(len(images)):
                best = uniform
        best.others = [c for c in candidates if c is not best]
        return best

    def margin(self, images: int) -> float:
        """How much better (mean predicted PSNR over ``images`` images) a mixed plan must be predicted than one
        subnet everywhere to be taken: the quality model's held-out error of an image's gain, over the
        square root of the images (their errors taken as independent; 0 without a measured error)."""
        error = self.calibration.gain_error if self.calibration is not None else None
        return 0. if error is None else error / np.sqrt(images)

    def _uniform(self, images: Sequence[PricedImage], index: int, budget: float) -> 'Candidate':
        """Unit ``index`` with one subnet of the :attr:`ladder` on every piece of every image: the one predicted
        best within ``budget`` (else the fastest)."""
        options = [image.options[index] for image in images]
        seconds = sum(option.seconds.sum(0) for option in options)
        values = sum(option.value.sum(0) for option in options)
        fitting = [m for m in self.ladder if seconds[m] <= budget] or [min(self.ladder, key=lambda m: seconds[m])]
        chosen = max(fitting, key=lambda m: (values[m], -seconds[m]))
        return Candidate(index, [np.full(option.pieces.count, chosen) for option in options], float(seconds[chosen]),
                         float(values[chosen]))

    def _allocated(self, images: Sequence[PricedImage], index: int, budget: float) -> 'Candidate':
        """Unit ``index``'s allocation over ``images`` under ``budget``, among the :attr:`ladder`'s subnets."""
        options = [image.options[index] for image in images]
        ladder = np.asarray(self.ladder)
        values = np.concatenate([option.value for option in options])[:, ladder]
        seconds = np.concatenate([option.seconds for option in options])[:, ladder]
        chosen = greedy_choice(values, seconds, budget)
        rows = np.arange(len(chosen))
        split = np.split(ladder[chosen], np.cumsum([option.pieces.count for option in options])[:-1])
        return Candidate(index, split, float(seconds[rows, chosen].sum()), float(values[rows, chosen].sum()))

    @property
    def ladder(self) -> Tuple[int, ...]:
        """The subnets plans use: with a calibration, its Pareto ladder by the time profile's costs (those
        predicted better than every faster one: docs/routing.md, "Ladders"); else every subnet."""
        if self.calibration is None:
            return tuple(range(len(self.timing.patch)))
        return self.calibration.pareto_ladder(self.timing.patch)


@dataclass
class Candidate:
    """One unit's allocation over a group of images: per image its pieces' subnets, the predicted
    seconds and quality (summed over the images), and the other units' candidates at the same budget."""

    index: int
    ids: List[np.ndarray]
    seconds: float
    quality: float
    others: List['Candidate'] = field(default_factory=list)

    @property
    def mixed(self) -> bool:
        """Whether more than one subnet runs (on the pieces of an image or across the images)."""
        return len(np.unique(np.concatenate(self.ids))) > 1


def _best_within(candidates: Sequence[Candidate], budget: float) -> Candidate:
    """The candidate predicted best among those within ``budget`` (else the fastest)."""
    fitting = [c for c in candidates if c.seconds <= budget] or [min(candidates, key=lambda c: c.seconds)]
    return max(fitting, key=lambda c: (c.quality, -c.seconds))
