"""The inference engine: one supernet, its routing data, and rows run on LR images (paper Fig. 2b).

For a routed row (:class:`wbsr_basicsr.routing.base.Router`) on one image, :class:`Engine`
chops the image (:mod:`wbsr_basicsr.runtime.patches`), has the router measure what it routes by,
allocates a subnet to every patch over the row's scope group, and has its runner
(:class:`wbsr_basicsr.runtime.runner.Runner`) run each subnet's patches as batches and merge the SR
patches. A row whose scope groups several images (``dataset``) is allocated in a first pass over
the set (:meth:`Engine.first_pass`); a ``whole`` row runs its subnet on the whole image; a ``plan``
row (a time budget) runs the plan its planner chose (:mod:`wbsr_basicsr.plans`), on any routing unit.
"""
import time
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.budgets import BUDGET_UNITS
from wbsr_basicsr.plans import units_of
from wbsr_basicsr.plans.planner import Plan, Planner
from wbsr_basicsr.plans.spending import Corrections, EachImage, Spending, folder_spendings
from wbsr_basicsr.routing.base import Features, Group, Router, RoutingData, check_routing
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.routing.scopes import SCOPES
from wbsr_basicsr.runtime.patches import GTPatches, PatchLayout, chop
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile


@dataclass
class RowResult:
    """What one inference row produced on one LR image."""

    sr: Tensor  # (1, C, H*s, W*s)
    layout: Optional[PatchLayout]  # None for a whole-image row
    subnet_ids: np.ndarray  # per patch, index into net.subnets (a whole-image row: its one subnet)
    flops_per_patch: float  # the paper's convention: mean over the patches, router apart
    flops: float  # every FLOP run on the image, overlapping patches included, router apart
    router_flops_per_patch: float
    seconds: float
    fallback: bool = False  # a time-budget row that ran one subnet on the whole image instead (budgets.time_budget)
    time_share: Optional[float] = None  # time budgets: predicted share of the full network's time
    unmeasured: bool = False  # a time-budget row on an image smaller than any the time profile measured
    plan: Optional[Plan] = None  # a plan row: what ran


@dataclass
class MeasuredImage:
    """One image's patches and what the routers measured on them (per feature), with the seconds
    each measurement took; the patches are dropped once no longer needed."""

    layout: PatchLayout
    patches: Optional[Tensor]
    features: Dict[str, Features] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.layout.count


Allocation = Union[np.ndarray, Spending]
"""One image's allocation: its patches' subnet ids, or (plan rows) how the folder's budget plans it."""


@dataclass
class Allocations:
    """Subnets allocated before the run, per row label: each image's allocation, and the seconds
    per image of the first pass that row needed."""

    ids: Dict[str, List[Allocation]] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)

    def of(self, row: Router, index: int) -> Tuple[Optional[Allocation], float]:
        """Image ``index``'s allocation under ``row`` (None: allocate it on its own) and the seconds to add."""
        if row.label not in self.ids:
            return None, 0.
        return self.ids[row.label][index], self.seconds[row.label]


class Engine:
    """Runs inference rows with ``net`` (in eval mode) and its routing ``data`` on LR images, on a :class:`Runner`
    made from the other arguments (``patch_size`` patches every ``stride`` pixels, at most ``max_batch`` per
    forward, whole images in tiles of ``tile`` with ``tile_pad`` of margin) and the data's time profile."""

    def __init__(self, net: SlimmableSupernet, data: RoutingData, patch_size: int, stride: int,
                 max_batch: int = 256, tile: Optional[int] = None, tile_pad: int = 10) -> None:
        self.runner = Runner(net, patch_size, stride, max_batch, tile, tile_pad)
        self.data = data

    @property
    def data(self) -> RoutingData:
        return self._data

    @data.setter
    def data(self, data: RoutingData) -> None:
        """New routing data; the runner prices by its time profile, corrected afresh (:meth:`corrections`)."""
        self._data, self.runner.timing = data, data.get(TimeProfile)
        self._corrections: Dict[str, Corrections] = {}

    def check(self, rows: Sequence[Router], where: str) -> None:
        """``ValueError`` naming ``where`` if a row needs routing data the engine lacks, or the
        thresholds were made for another patch size."""
        thresholds = self.data.get(DifficultyClasses)
        if thresholds is not None and thresholds.patch_size != self.runner.patch_size:
            raise ValueError(f'{where}: the routing thresholds are for {thresholds.patch_size}-pixel patches; '
                             f'inference uses {self.runner.patch_size}.')
        check_routing(rows, self.data, where)

    def planner(self, row: Router) -> Planner:
        """The planner of a plan row (:attr:`Router.planned`) over its units."""
        return Planner(self.runner, units_of(row.units), self.data.get(Calibration))

    def each_image(self, row: Router) -> EachImage:
        """A plan row's spending on an image planned on its own, corrected by the images before it."""
        return EachImage(self.planner(row), row.target, self.corrections(row))

    def corrections(self, row: Router) -> Optional[Corrections]:
        """A plan row's corrections of the time profile, carried from image to image (None: open loop)."""
        return self._corrections.setdefault(row.label, Corrections(self.runner.num_subnets)) \
            if row.closed_loop else None

    @torch.no_grad()
    def measure(self, rows: Sequence[Router], lq: Tensor, gt: Optional[Tensor] = None) -> MeasuredImage:
        """Chop ``lq`` ``(1, C, H, W)`` and measure each feature ``rows`` route by, once."""
        layout = self.runner.layout(lq)
        image = MeasuredImage(layout, chop(lq, layout))
        needing_gt = [row.label for row in rows if row.needs_gt]
        if needing_gt and gt is None:
            raise ValueError(f'{", ".join(needing_gt)}: each needs the GT image (the oracle is analysis only): test '
                             'on a paired dataset.')
        gt_patches = GTPatches(gt, layout) if needing_gt else None
        for row in rows:
            if row.feature is None or row.feature in image.features:
                continue
            started = time.perf_counter()
            image.features[row.feature] = row.measure(image.patches, gt_patches, self.data, self.runner)
            image.seconds[row.feature] = time.perf_counter() - started
        return image

    def allocate(self, row: Router, images: Sequence[MeasuredImage]) -> np.ndarray:
        """The subnet of every patch of ``images`` (concatenated) under ``row``, its budget holding over
        exactly these images (in the row's unit: :meth:`budget`)."""
        measured = [image.features[row.feature] for image in images] if row.feature else []
        features = {key: np.concatenate([part[key] for part in measured]) for key in (measured[0] if measured else {})}
        costs, target = self.budget(row, images)
        group = Group(features, sum(image.count for image in images), costs, tuple(self.runner.net.subnets), target)
        if row.target is None:
            return row.allocate(group, self.data)
        return BUDGET_UNITS[row.budget_unit].fitted(self.runner, row.target, [image.layout for image in images], target,
                                             lambda lowered: row.allocate(replace(group, target=lowered), self.data))

    def budget(self, row: Router, images: Sequence[MeasuredImage]) -> Tuple[np.ndarray, Optional[float]]:
        """Each subnet's cost per patch in ``row``'s unit, and its target as the routers take it: a
        ratio of the full network's cost on the patches of ``images`` (:mod:`wbsr_basicsr.budgets`)."""
        if row.target is None:
            return self.runner.costs, None
        return BUDGET_UNITS[row.budget_unit].patch_budget(self.runner, row.target, [image.layout for image in images])

    @staticmethod
    def allocated_first(rows: Sequence[Router], count: int) -> List[Router]:
        """The ``rows`` whose scope groups several of ``count`` images: :meth:`first_pass` allocates them."""
        return [row for row in rows if row.scope is not None and SCOPES[row.scope].spans_images(count)]

    @torch.no_grad()
    def first_pass(self, rows: Sequence[Router], images: Iterable[Tuple[Tensor, Optional[Tensor]]],
                   count: int) -> Allocations:
        """Allocate the ``rows`` whose scope groups several of the ``count`` images ``(lq, gt)`` (``gt``
        may be None unless a row needs it): every image is measured once, then each row allocates
        over each of its scope's groups. Rows allocated image by image are left out."""
        rows = self.allocated_first(rows, count)
        if not rows:
            return Allocations()
        routed, planned = [row for row in rows if not row.planned], [row for row in rows if row.planned]
        planners = {row.label: self.planner(row) for row in planned}
        priced: Dict[str, list] = {row.label: [] for row in planned}
        measured: List[MeasuredImage] = []
        for lq, gt in images:
            if routed:
                image = self.measure(routed, lq, gt)
                image.patches = None  # a set's patches would not fit in memory; the second pass chops again
                measured.append(image)
            for row in planned:
                priced[row.label].append(planners[row.label].price(lq))
        allocations = Allocations()
        for row in planned:
            images_priced = priced[row.label]
            allocations.ids[row.label] = [None] * len(images_priced)
            for group in SCOPES[row.scope].groups(len(images_priced)):
                spendings = folder_spendings(planners[row.label], [images_priced[i] for i in group], row.target,
                                             self.corrections(row))
                for index, spending in zip(group, spendings):
                    allocations.ids[row.label][index] = spending
            allocations.seconds[row.label] = sum(image.pricing_seconds for image in images_priced) / max(
                1, len(images_priced))
        for row in routed:
            ids: List[np.ndarray] = []
            for group in SCOPES[row.scope].groups(len(measured)):
                members = [measured[index] for index in group]
                ids += np.split(self.allocate(row, members), np.cumsum([image.count for image in members])[:-1])
            allocations.ids[row.label] = ids
            allocations.seconds[row.label] = sum(image.seconds.get(row.feature, 0.) for image in measured) / max(
                1, len(measured))
        return allocations

    # ------------------------------------------------------------------ running a row

    def router_flops(self, row: Router, channels: int) -> float:
        return row.flops(self.data, self.runner.patch_size, channels)

    @torch.no_grad()
    def infer(self, lq: Tensor, row: Router, subnet_ids: Optional[Allocation] = None,
              gt: Optional[Tensor] = None) -> RowResult:
        """Run ``row`` on ``lq`` ``(1, C, H, W)`` in [0, 1]: route every patch (or take the given
        ``subnet_ids``, as a first pass allocates them; without them this image is the row's whole
        group), run, merge; plan rows plan the image (on its own, or its turn in the folder's spending)
        and run it. ``gt``: rows that need it."""
        self.check([row], 'Dynamic inference')
        synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
        synchronize()
        started = time.perf_counter()
        if row.planned:
            return self.run_plan(lq, subnet_ids or self.each_image(row), started, synchronize)
        if not row.patchwise:
            return self._whole(lq, self.runner.net.subnets.index(row.subnet), None, started, synchronize)
        runner, calibration = self.runner, self.data.get(Calibration)
        unit = BUDGET_UNITS[row.budget_unit] if row.target is not None else None
        layout = runner.layout(lq)
        if subnet_ids is None:
            instead = unit.before_routing(runner, row.target, layout, calibration) if unit else None
            if instead is None:
                image = self.measure([row], lq, gt)
                patches, subnet_ids = image.patches, self.allocate(row, [image])
                instead = unit.after_routing(runner, row.target, layout, subnet_ids, patches, calibration) \
                    if unit else None
            if instead is not None:
                result = self._whole(lq, instead.index, layout, started, synchronize)
                result.time_share = None if instead.unmeasured else unit.share(runner, layout, whole=instead.index)
                result.unmeasured = instead.unmeasured
                return result
        else:
            patches = chop(lq, layout)
            if len(subnet_ids) != len(patches):
                raise ValueError(f'{len(subnet_ids)} subnet ids for {len(patches)} patches.')
        sr = runner.run_routed(patches, subnet_ids, layout)
        synchronize()
        seconds = time.perf_counter() - started
        per_patch = runner.costs[subnet_ids]
        result = RowResult(sr, layout, subnet_ids, float(per_patch.mean()), float(per_patch.sum()),
                           self.router_flops(row, lq.shape[1]), seconds)
        if unit is not None:
            result.time_share = unit.share(runner, layout, subnet_ids)
        return result

    def run_plan(self, lq: Tensor, spending: Spending, started: float, synchronize) -> RowResult:
        """Plan ``lq`` by ``spending``, run the plan and record its seconds; its usage and FLOPs per patch
        counted over the image's routing patches."""
        runner, plan = self.runner, spending.plan(lq)
        run_started = time.perf_counter()
        sr = plan.unit.run(lq, plan.priced.pieces, plan.ids, runner)
        synchronize()
        seconds = time.perf_counter() - started
        spending.record(plan, seconds - (run_started - started), seconds)
        ids, layout = plan.patch_ids, runner.layout(lq)
        unmeasured = not runner.timing.times(layout.height * layout.width)
        flops = plan.unit.flops(plan.priced.pieces, plan.ids, runner)
        return RowResult(sr, layout, ids, float(runner.costs[ids].mean()), flops, 0., seconds,
                         time_share=None if unmeasured else plan.share, unmeasured=unmeasured, plan=plan)

    def _whole(self, lq: Tensor, index: int, layout: Optional[PatchLayout], started: float,
               synchronize) -> RowResult:
        """Subnet ``index`` on the whole image: a ``whole`` row (``layout`` None), or a time-budget row's
        fallback, whose usage counts every patch of its ``layout`` under that subnet."""
        runner = self.runner
        sr = runner.run_whole(index, lq)
        synchronize()
        seconds = time.perf_counter() - started
        ids = np.array([index]) if layout is None else np.full(layout.count, index)
        return RowResult(sr, layout, ids, float(runner.costs[index]), runner.subnet_image_flops(index, *lq.shape[-2:]),
                         0., seconds, fallback=layout is not None)
