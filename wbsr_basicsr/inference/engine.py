"""The inference engine: one supernet, its routing data, and rows run on LR images (paper Fig. 2b).

For a routed row (:class:`wbsr_basicsr.routing.base.Router`) on one image, :class:`Engine`
chops the image (:mod:`.patches`), has the router measure what it routes by, allocates a subnet
to every patch over the row's scope group, runs each subnet's patches as batches and merges
the SR patches. A row whose scope groups several images (``dataset``) is allocated in a first
pass over the set (:meth:`Engine.first_pass`); a ``whole`` row runs its subnet on the whole image; a
``plan`` row (time budgets) runs the allocation its planner chose (:mod:`wbsr_basicsr.plans`), on
any routing unit.
"""
import time
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.plans import Pieces, units_of
from wbsr_basicsr.plans.base import tiled, window_seconds
from wbsr_basicsr.plans.planner import Plan, Planner
from wbsr_basicsr.routing.base import Features, Group, Router, RoutingData, check_routing
from wbsr_basicsr.routing.budget_units import BUDGET_UNITS
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.routing.scopes import SCOPES
from wbsr_basicsr.routing.timing import TimeProfile

from .patches import GTPatches, Merger, PatchLayout, channels_last, chop
from .time_budget import TimeBudget


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
    fallback: bool = False  # a time-budget row that ran one subnet on the whole image instead (TimeBudget)
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


Allocation = Union[np.ndarray, Plan]
"""One image's allocation: its patches' subnet ids, or (plan rows) its plan."""


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
    """Runs inference rows with ``net`` (in eval mode) and its routing ``data`` on LR images,
    in ``patch_size`` patches every ``stride`` pixels, at most ``max_batch`` patches per forward;
    one subnet on a whole image runs in tiles of ``tile`` LR pixels with ``tile_pad`` of margin
    when ``tile`` is set, untiled when it is 0, and when it is None in the tiles the time profile
    measured faster, if any (:meth:`tiles`).

    Each subnet runs as a plain network holding a copy of its weights (:meth:`prepared`), made
    once per engine: no weight is sliced per forward. It is the routers'
    :class:`~wbsr_basicsr.routing.base.PatchRunner`."""

    def __init__(self, net: SlimmableSupernet, data: RoutingData, patch_size: int, stride: int,
                 max_batch: int = 256, tile: Optional[int] = None, tile_pad: int = 10) -> None:
        self.net, self.data, self.tile, self.tile_pad = net, data, tile, tile_pad
        self.patch_size, self.stride, self.max_batch = patch_size, stride, max_batch
        self.num_subnets = len(net.subnets)
        self.costs = net.subnet_costs((patch_size, patch_size))
        self._prepared: Dict[int, nn.Module] = {}

    def check(self, rows: Sequence[Router], where: str) -> None:
        """``ValueError`` naming ``where`` if a row needs routing data the engine lacks, or the
        thresholds were made for another patch size."""
        thresholds = self.data.get(DifficultyClasses)
        if thresholds is not None and thresholds.patch_size != self.patch_size:
            raise ValueError(f'{where}: the routing thresholds are for {thresholds.patch_size}-pixel patches; '
                             f'inference uses {self.patch_size}.')
        check_routing(rows, self.data, where)

    # ------------------------------------------------------------------ the routers' patch runner

    def prepared(self, index: int) -> nn.Module:
        """Subnet ``index`` as the plain network it is (``SlimmableSupernet.extract_subnet``), in eval
        mode and the channels-last format, made on first use; the supernet's parameters must not
        change while this engine runs (an engine lasts one validation, or one command)."""
        if index not in self._prepared:
            plain = self.net.extract_subnet(self.net.subnets[index]).eval()
            self._prepared[index] = plain.to(memory_format=torch.channels_last)
        return self._prepared[index]

    def prepare_all(self) -> None:
        """Every subnet :meth:`prepared` now, so that no row's time includes making one."""
        for index in range(self.num_subnets):
            self.prepared(index)

    def run(self, index: int, patches: Tensor) -> Tensor:
        """SR patches of subnet ``index`` (channels-last, see :func:`.patches.channels_last`)."""
        return self.prepared(index)(channels_last(patches))

    def tiles(self, height: int, width: int, index: int = -1) -> Pieces:
        """The tiles subnet ``index`` runs a whole ``height`` x ``width`` image in
        (:func:`wbsr_basicsr.plans.base.tiled`), each on a window a margin wider on every side inside
        the image: ``tile`` pixels with ``tile_pad``; with ``tile`` None, those the time profile
        measured faster on images this large (:meth:`.TimeProfile.faster_tile`), if any; else one
        tile, the whole image."""
        tile, pad, timing = self.tile, self.tile_pad, self.data.get(TimeProfile)
        if tile is None and timing is not None:
            tile, pad = timing.faster_tile(index % self.num_subnets, height * width), timing.tile_pad
        return tiled(height, width, tile, pad) if tile else tiled(height, width, max(height, width), 0)

    def whole_flops(self, index: int, height: int, width: int) -> float:
        """FLOPs of subnet ``index`` on a whole ``height`` x ``width`` image as :meth:`run_whole` runs it,
        every tile's margin included."""
        subnet = self.net.subnets[index]
        windows = self.tiles(height, width, index).windows
        return float(sum(self.net.flops(subnet, (y1 - y0, x1 - x0)) for y0, x0, y1, x1 in windows))

    def whole_seconds(self, index: int, height: int, width: int) -> float:
        """Predicted seconds of subnet ``index`` on a whole ``height`` x ``width`` image as
        :meth:`run_whole` runs it, by the time profile."""
        return float(window_seconds(self.tiles(height, width, index), self.data.get(TimeProfile))[:, index].sum())

    def run_whole(self, index: int, lq: Tensor) -> Tensor:
        """Subnet ``index`` on the whole ``(1, C, H, W)`` image, tile by tile (:meth:`tiles`): each with a
        margin of the image around it that is cropped off its output, so that memory holds one tile's
        activations and, where the network's receptive field fits the margin, the output is the
        untiled one (no seams; the margins the time profile tiles with keep it within a grey level)."""
        tiles = self.tiles(*lq.shape[-2:], index)
        return self.run(index, lq) if tiles.count == 1 else self.run_in_tiles(index, lq, tiles)

    def run_in_tiles(self, index: int, lq: Tensor, tiles: Pieces) -> Tensor:
        """Subnet ``index`` on every window of ``tiles``, each output cropped to its region."""
        return self.run_windows(lq, tiles.windows, tiles.regions, np.full(tiles.count, index))

    def run_windows(self, lq: Tensor, windows: np.ndarray, regions: np.ndarray, ids: np.ndarray) -> Tensor:
        """The SR image of ``lq`` ``(1, C, H, W)`` whose ``regions`` (boxes top, left, bottom, right in LR
        pixels, covering the image) each come from subnet ``ids[k]`` run on ``windows[k]`` around them,
        cropped to the region."""
        output = None
        for index, (y0, x0, y1, x1), (top, left, bottom, right) in zip(ids.tolist(), windows.tolist(),
                                                                        regions.tolist()):
            sr = self.run(index, lq[..., y0:y1, x0:x1])
            scale = sr.shape[-1] // (x1 - x0)
            if output is None:
                output = sr.new_empty(1, sr.shape[1], lq.shape[-2] * scale, lq.shape[-1] * scale)
            output[..., top * scale:bottom * scale, left * scale:right * scale] = sr[
                ..., (top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale]
        return output

    # ------------------------------------------------------------------ measuring and allocating

    def layout(self, lq: Tensor) -> PatchLayout:
        return self.layout_of(lq.shape[-2], lq.shape[-1])

    def layout_of(self, height: int, width: int) -> PatchLayout:
        return PatchLayout.cover(height, width, self.patch_size, self.stride)

    def planner(self, row: Router) -> Planner:
        """The planner of a plan row (:attr:`Router.planned`) over its units."""
        return Planner(self, units_of(row.units))

    @torch.no_grad()
    def measure(self, rows: Sequence[Router], lq: Tensor, gt: Optional[Tensor] = None) -> MeasuredImage:
        """Chop ``lq`` ``(1, C, H, W)`` and measure each feature ``rows`` route by, once."""
        layout = self.layout(lq)
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
            image.features[row.feature] = row.measure(image.patches, gt_patches, self.data, self)
            image.seconds[row.feature] = time.perf_counter() - started
        return image

    def allocate(self, row: Router, images: Sequence[MeasuredImage]) -> np.ndarray:
        """The subnet of every patch of ``images`` (concatenated) under ``row``, its budget holding over
        exactly these images (in the row's unit: :meth:`budget`)."""
        measured = [image.features[row.feature] for image in images] if row.feature else []
        features = {key: np.concatenate([part[key] for part in measured]) for key in (measured[0] if measured else {})}
        costs, target = self.budget(row, images)
        group = Group(features, sum(image.count for image in images), costs, tuple(self.net.subnets), target)
        if row.target is None:
            return row.allocate(group, self.data)
        return BUDGET_UNITS[row.unit].fitted(self, row.target, [image.layout for image in images], target,
                                             lambda lowered: row.allocate(replace(group, target=lowered), self.data))

    def budget(self, row: Router, images: Sequence[MeasuredImage]) -> Tuple[np.ndarray, Optional[float]]:
        """Each subnet's cost per patch in ``row``'s unit, and its target as the routers take it: a
        ratio of the full network's cost on the patches of ``images`` (:mod:`wbsr_basicsr.routing.budget_units`)."""
        if row.target is None:
            return self.costs, None
        return BUDGET_UNITS[row.unit].patch_budget(self, row.target, [image.layout for image in images])

    @property
    def time_budget(self) -> TimeBudget:
        """Time budgets by the routing data's time profile (rows with ``unit: time``)."""
        return TimeBudget(self.data.get(TimeProfile), self.whole_seconds, self.max_batch, self.data.get(Calibration),
                          self.costs)

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
            allocations.ids[row.label] = [plan for group in SCOPES[row.scope].groups(len(images_priced)) for plan in
                                          planners[row.label].plan([images_priced[i] for i in group], row.target)]
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
        return row.flops(self.data, self.patch_size, channels)

    @torch.no_grad()
    def infer(self, lq: Tensor, row: Router, subnet_ids: Optional[Allocation] = None,
              gt: Optional[Tensor] = None) -> RowResult:
        """Run ``row`` on ``lq`` ``(1, C, H, W)`` in [0, 1]: route every patch (or take the given
        ``subnet_ids``, as a first pass allocates them; without them this image is the row's whole
        group), run, merge; plan rows price and plan the image (or take the first pass's plan) and run
        it. ``gt``: rows that need it."""
        self.check([row], 'Dynamic inference')
        synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
        synchronize()
        started = time.perf_counter()
        if row.planned:
            planner = self.planner(row)
            plan = subnet_ids if subnet_ids is not None else planner.plan([planner.price(lq)], row.target)[0]
            return self.run_plan(lq, plan, started, synchronize)
        if not row.patchwise:
            return self._whole(lq, self.net.subnets.index(row.subnet), None, started, synchronize)
        unit = BUDGET_UNITS[row.unit] if row.target is not None else None
        if subnet_ids is None:
            layout = self.layout(lq)
            instead = unit.before_routing(self, row.target, layout) if unit else None
            if instead is None:
                image = self.measure([row], lq, gt)
                patches, subnet_ids = image.patches, self.allocate(row, [image])
                instead = unit.after_routing(self, row.target, layout, subnet_ids, patches) if unit else None
            if instead is not None:
                result = self._whole(lq, instead.index, layout, started, synchronize)
                result.time_share = None if instead.unmeasured else unit.share(self, layout, whole=instead.index)
                result.unmeasured = instead.unmeasured
                return result
        else:
            layout = self.layout(lq)
            patches = chop(lq, layout)
            if len(subnet_ids) != len(patches):
                raise ValueError(f'{len(subnet_ids)} subnet ids for {len(patches)} patches.')
        sr = self.run_routed(patches, subnet_ids, layout)
        synchronize()
        seconds = time.perf_counter() - started
        per_patch = self.costs[subnet_ids]
        result = RowResult(sr, layout, subnet_ids, float(per_patch.mean()), float(per_patch.sum()),
                           self.router_flops(row, lq.shape[1]), seconds)
        if unit is not None:
            result.time_share = unit.share(self, layout, subnet_ids)
        return result

    def run_routed(self, patches: Tensor, subnet_ids: np.ndarray, layout: PatchLayout) -> Tensor:
        """Run each patch through the subnet it was routed to, all patches of one subnet as batches
        of at most ``max_batch``, and merge the SR patches as they come (:class:`.patches.Merger`):
        a fixed number of operations per batch, none per patch."""
        merger: Optional[Merger] = None
        indices, counts = np.unique(subnet_ids, return_counts=True)
        order = torch.as_tensor(np.argsort(subnet_ids, kind='stable'), device=patches.device)
        for index, rows in zip(indices, order.split(counts.tolist())):
            for chunk in rows.split(self.max_batch):
                result = self.run(int(index), patches.index_select(0, chunk))
                if merger is None:
                    merger = Merger(layout, result.shape[-1] // layout.patch_size, result.shape[1], result)
                merger.add(chunk, result)
        if merger is None:
            raise ValueError('No patches to run.')
        return merger.image()

    def run_plan(self, lq: Tensor, plan: Plan, started: float, synchronize) -> RowResult:
        """Run ``plan`` on ``lq``; its usage and FLOPs per patch counted over the image's routing patches."""
        sr = plan.unit.run(lq, plan.priced.pieces, plan.ids, self)
        synchronize()
        seconds = time.perf_counter() - started
        ids, layout = plan.patch_ids, self.layout(lq)
        unmeasured = self.time_budget.unmeasured(layout)
        flops = plan.unit.flops(plan.priced.pieces, plan.ids, self)
        return RowResult(sr, layout, ids, float(self.costs[ids].mean()), flops, 0., seconds,
                         time_share=None if unmeasured else plan.share, unmeasured=unmeasured, plan=plan)

    def _whole(self, lq: Tensor, index: int, layout: Optional[PatchLayout], started: float,
               synchronize) -> RowResult:
        """Subnet ``index`` on the whole image: a ``whole`` row (``layout`` None), or a time-budget row's
        fallback, whose usage counts every patch of its ``layout`` under that subnet."""
        sr = self.run_whole(index, lq)
        synchronize()
        seconds = time.perf_counter() - started
        ids = np.array([index]) if layout is None else np.full(layout.count, index)
        return RowResult(sr, layout, ids, float(self.costs[index]), self.whole_flops(index, *lq.shape[-2:]), 0., seconds,
                         fallback=layout is not None)
