"""Gradient-projection dynamic inference (paper Sec. 4.2, Eq. 15-16, Fig. 2b).

The LR image is chopped into ``patch_size`` patches every ``stride`` pixels, with one more
patch aligned to each border so that every pixel is covered (ClassSR and ARM drop the border
instead). Each patch gets its gradient vector and Eq. 7 class from the shared helper, a subnet
from a routing rule, and all patches of one subnet run as batches. The SR patches are merged
by averaging where they overlap. Routing rules, as DESIGN.md reads them:

- ``ceil`` (Eq. 15): class ``k`` in 1..K goes to subnet ``m = ceil(k M / K)`` of the M subnets
  ordered by cost;
- ``budget`` (Eq. 16): ``m = argmin_m |C_m - alpha (k / K) C_t|``, with ``C_t`` the full
  network's cost;
- ``target_flops``: the ``budget`` rule with the ``alpha`` whose average cost on calibration
  classes is closest to a target ratio of the full cost;
- ``fixed``: every patch to one subnet (the full one: the paper's WBSR-dagger).

:class:`Router` holds what routing needs (Eq. 7 thresholds of the training patches, their class
counts for calibration, patch size and stride) and travels in WBSR checkpoints;
:class:`InferenceRow` is one way to infer (one row of the paper's Table 2); :func:`infer_image`
runs one row on one LR image and reports its FLOPs, subnet usage and time.
"""
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.utils.gradient_stats import (assign_classes, class_thresholds, difficulty_scores, grid_positions,
                                               patch_gradient_vectors)

MODES = ('ceil', 'budget', 'target_flops', 'fixed')


@dataclass(frozen=True)
class PatchLayout:
    """Where the patches of one (padded) LR image lie."""

    tops: Tuple[int, ...]
    lefts: Tuple[int, ...]
    patch_size: int
    height: int  # of the image before padding
    width: int

    @classmethod
    def cover(cls, height: int, width: int, patch_size: int, stride: int) -> 'PatchLayout':
        """Patches every ``stride`` plus border-aligned ones; sides below ``patch_size`` are padded."""
        if not 0 < stride <= patch_size:
            raise ValueError(f'stride must lie in (0, patch_size={patch_size}], got {stride}.')
        padded_h, padded_w = max(height, patch_size), max(width, patch_size)
        return cls(tuple(grid_positions(padded_h, patch_size, stride)),
                   tuple(grid_positions(padded_w, patch_size, stride)), patch_size, height, width)

    @property
    def corners(self) -> List[Tuple[int, int]]:
        return [(top, left) for top in self.tops for left in self.lefts]

    @property
    def padding(self) -> Tuple[int, int]:
        """Pixels added at the bottom and right so that the image holds one patch."""
        return max(0, self.patch_size - self.height), max(0, self.patch_size - self.width)


def chop(image: Tensor, layout: PatchLayout) -> Tensor:
    """``(1, C, H, W)`` -> ``(N, C, P, P)`` patches at ``layout.corners`` (replicate-padded if small)."""
    pad_h, pad_w = layout.padding
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode='replicate')
    size = layout.patch_size
    return torch.cat([image[..., top:top + size, left:left + size] for top, left in layout.corners])


class MergeBuffer:
    """Sums SR patches into the SR image as they come, then averages where they overlap.

    Only the image-sized sums are held, never all SR patches at once (bounded memory).
    """

    def __init__(self, layout: PatchLayout, scale: int, channels: int, like: Tensor) -> None:
        pad_h, pad_w = layout.padding
        self.layout, self.scale = layout, scale
        height, width = (layout.height + pad_h) * scale, (layout.width + pad_w) * scale
        self.total = like.new_zeros(1, channels, height, width)
        self.count = like.new_zeros(1, 1, height, width)

    def add(self, rows: Sequence[int], outputs: Tensor) -> None:
        """Add the SR patches ``outputs`` of the patches ``rows`` (indices into ``layout.corners``)."""
        size, scale = self.layout.patch_size * self.scale, self.scale
        corners = self.layout.corners
        for row, patch in zip(rows, outputs):
            top, left = corners[int(row)]
            self.total[..., top * scale:top * scale + size, left * scale:left * scale + size] += patch
            self.count[..., top * scale:top * scale + size, left * scale:left * scale + size] += 1

    def image(self) -> Tensor:
        """The ``(1, C, H*s, W*s)`` SR image: every pixel the mean of the patches covering it."""
        if not bool((self.count > 0).all()):
            raise RuntimeError('Some SR pixels received no patch; add the outputs of every patch first.')
        return (self.total / self.count)[..., :self.layout.height * self.scale, :self.layout.width * self.scale]


def merge(outputs: Tensor, layout: PatchLayout, scale: int) -> Tensor:
    """Average ``(N, C, P*s, P*s)`` SR patches (all of ``layout``) into the ``(1, C, H*s, W*s)`` SR image."""
    buffer = MergeBuffer(layout, scale, outputs.shape[1], outputs)
    buffer.add(range(len(outputs)), outputs)
    return buffer.image()


def route_ceil(classes: np.ndarray, num_classes: int, num_subnets: int) -> np.ndarray:
    """Eq. 15: class index ``c`` (0-based, ``k = c + 1``) -> subnet ``ceil(k M / K) - 1`` (0-based)."""
    k = np.asarray(classes) + 1
    return -(-k * num_subnets // num_classes) - 1


def route_budget(classes: np.ndarray, num_classes: int, costs: Sequence[float], alpha: float) -> np.ndarray:
    """Eq. 16 as DESIGN.md reads it: ``argmin_m |C_m - alpha (k / K) C_t|``, ``C_t = max(costs)``."""
    costs = np.asarray(costs, dtype=np.float64)
    wanted = alpha * (np.asarray(classes) + 1) / num_classes * costs.max()
    return np.abs(costs[None, :] - wanted[:, None]).argmin(axis=1)


def alpha_for_target(classes: np.ndarray, num_classes: int, costs: Sequence[float], target_ratio: float,
                     weights: Optional[np.ndarray] = None) -> float:
    """The ``alpha`` of :func:`route_budget` whose average cost on ``classes`` (each counted
    ``weights`` times, default once) is closest to ``target_ratio`` x the full cost. The average
    is a step function of ``alpha`` that changes only where ``alpha (k / K) C_t`` crosses a
    midpoint between two costs; one candidate per step is checked."""
    if not 0 < target_ratio <= 1:
        raise ValueError(f'target_flops must lie in (0, 1], got {target_ratio}.')
    costs = np.asarray(costs, dtype=np.float64)
    if np.any(np.diff(costs) < 0):
        raise ValueError('costs must be in ascending order, as the supernet lists its subnets.')
    levels = np.unique(np.asarray(classes) + 1) / num_classes
    midpoints = (costs[1:] + costs[:-1]) / 2 / costs.max()
    breaks = np.unique((midpoints[:, None] / levels[None, :]).ravel())
    candidates = np.concatenate([[breaks[0] / 2], (breaks[1:] + breaks[:-1]) / 2, [breaks[-1] * 2]])
    ratios = [np.average(costs[route_budget(classes, num_classes, costs, a)], weights=weights) / costs.max()
              for a in candidates]
    return float(candidates[int(np.argmin(np.abs(np.asarray(ratios) - target_ratio)))])


def patch_classes(patches: Tensor, thresholds: Sequence[float]) -> np.ndarray:
    """Eq. 7 class of every patch, from the shared gradient statistics."""
    return assign_classes(difficulty_scores(patch_gradient_vectors(patches)).cpu().numpy(), thresholds)


@torch.no_grad()
def run_routed(net: SlimmableSupernet, patches: Tensor, subnet_ids: np.ndarray, layout: PatchLayout,
               max_batch: int = 256) -> Tensor:
    """Run each patch through the subnet ``net.subnets[id]`` it was routed to, all patches of one
    subnet as batches of at most ``max_batch``, and merge the SR patches into the SR image as they
    come (:class:`MergeBuffer`)."""
    buffer: Optional[MergeBuffer] = None
    for index in np.unique(subnet_ids):
        rows = np.flatnonzero(subnet_ids == index)
        with net.subnet(net.subnets[int(index)]):
            for start in range(0, len(rows), max_batch):
                chunk = rows[start:start + max_batch]
                result = net(patches[torch.as_tensor(chunk, device=patches.device)])
                if buffer is None:
                    buffer = MergeBuffer(layout, result.shape[-1] // layout.patch_size, result.shape[1], result)
                buffer.add(chunk, result)
    if buffer is None:
        raise ValueError('No patches to run.')
    return buffer.image()


@dataclass(frozen=True)
class Router:
    """Eq. 7 classes of LR patches and their subnets (Eq. 15 / 16), fixed by the training data.

    ``thresholds`` are the K - 1 quantile thresholds of the training patches' difficulty scores,
    ``class_counts`` how many training patches fell in each class (the calibration set of
    ``target_flops``), for patches of ``patch_size`` chopped every ``stride`` pixels.
    """

    thresholds: Tuple[float, ...]
    class_counts: Tuple[int, ...]
    patch_size: int
    stride: int

    def __post_init__(self) -> None:
        if len(self.class_counts) != len(self.thresholds) + 1 or len(self.class_counts) < 2:
            raise ValueError(f'A router needs K >= 2 class counts and K - 1 thresholds, got '
                             f'{len(self.class_counts)} and {len(self.thresholds)}.')
        if not 3 <= self.patch_size or not 0 < self.stride <= self.patch_size:
            raise ValueError(f'Router patch_size {self.patch_size} / stride {self.stride} are not usable.')

    @classmethod
    def from_scores(cls, scores: np.ndarray, num_classes: int, patch_size: int, stride: int) -> 'Router':
        """Thresholds and class counts of training patch ``scores`` (Eq. 7)."""
        thresholds = class_thresholds(scores, num_classes)
        counts = np.bincount(assign_classes(scores, thresholds), minlength=num_classes)
        return cls(tuple(float(t) for t in thresholds), tuple(int(c) for c in counts), patch_size, stride)

    @classmethod
    def from_dict(cls, state: Dict) -> 'Router':
        return cls(tuple(state['thresholds']), tuple(state['class_counts']), int(state['patch_size']),
                   int(state['stride']))

    def to_dict(self) -> Dict:
        return dict(thresholds=list(self.thresholds), class_counts=list(self.class_counts),
                    patch_size=self.patch_size, stride=self.stride)

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    def classes(self, patches: Tensor) -> np.ndarray:
        """Eq. 7 class (0-based) of every ``(N, C, P, P)`` patch in [0, 1]."""
        return patch_classes(patches, self.thresholds)

    def calibration_classes(self) -> np.ndarray:
        """The classes of the training patches, one entry per patch."""
        return np.repeat(np.arange(self.num_classes), self.class_counts)

    def alpha_for_target(self, costs: Sequence[float], target_ratio: float) -> float:
        """Eq. 16's ``alpha`` that makes the training patches' average cost ``target_ratio`` x ``C_t``
        (each class weighted by its count, not one entry per training patch)."""
        present = np.flatnonzero(np.asarray(self.class_counts))
        return alpha_for_target(present, self.num_classes, costs, target_ratio,
                                weights=np.asarray(self.class_counts)[present])

    def flops(self, channels: int = 3) -> int:
        """FLOPs of scoring one patch as ``sobel_magnitudes`` and ``patch_gradient_vectors`` do it:
        the luma (5 per pixel for RGB), the central differences (1 per element), and per element
        of each of the 2 Sobel maps the (1, 2, 1) smoothing (3), the absolute value (1) and the
        two-pass mean and standard deviation (4)."""
        size, interior = self.patch_size, self.patch_size - 2
        luma = 5 * size * size if channels == 3 else 0
        return luma + 2 * size * interior + 2 * 8 * interior * interior


@dataclass(frozen=True)
class InferenceRow:
    """One way to infer: ``mode`` in :data:`MODES`, with ``subnet`` (fixed), ``alpha`` (budget)
    or ``target`` (target_flops, a ratio of the full network's FLOPs)."""

    mode: str
    subnet: Optional[Subnet] = None
    alpha: Optional[float] = None
    target: Optional[float] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'Unknown inference mode {self.mode!r}; choose from {MODES}.')
        needs = {'fixed': 'subnet', 'budget': 'alpha', 'target_flops': 'target'}.get(self.mode)
        given = {name for name in ('subnet', 'alpha', 'target') if getattr(self, name) is not None}
        if given != ({needs} if needs else set()):
            raise ValueError(f'Inference mode {self.mode!r} takes {needs or "no option"}, '
                             f'got {sorted(given) or "none"}.')
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f'budget alpha must be positive, got {self.alpha}.')
        if self.target is not None and not 0 < self.target <= 1:
            raise ValueError(f'target_flops target must lie in (0, 1], got {self.target}.')

    @property
    def label(self) -> str:
        """A short name for tables, logs and file names, e.g. ``fixed_64x16`` or ``target_0.65``."""
        if self.mode == 'fixed':
            return f'fixed_{self.subnet[0]}x{self.subnet[1]}'
        if self.mode == 'budget':
            return f'budget_{self.alpha:g}'
        if self.mode == 'target_flops':
            return f'target_{self.target:g}'
        return 'ceil'

    @property
    def needs_router(self) -> bool:
        return self.mode != 'fixed'


def parse_rows(specs: Sequence[Dict], net: SlimmableSupernet) -> List[InferenceRow]:
    """Inference rows from options, e.g. ``[{mode: ceil}, {mode: fixed, subnet: all}]``.

    A fixed ``subnet`` is ``[w, d]``, ``full``, or ``all`` (one row per subnet, cheapest first).
    """
    rows: List[InferenceRow] = []
    for spec in specs:
        spec = dict(spec)
        if spec.get('mode') == 'fixed' and spec.get('subnet') == 'all':
            rows.extend(InferenceRow('fixed', subnet=s) for s in net.subnets)
            continue
        if spec.get('mode') == 'fixed':
            chosen = spec.get('subnet')
            spec['subnet'] = net.full_subnet if chosen == 'full' else (None if chosen is None else
                                                                       net.validate_subnet(chosen))
        rows.append(InferenceRow(**spec))
    if len({row.label for row in rows}) != len(rows):
        raise ValueError(f'Inference rows repeat: {[row.label for row in rows]}.')
    return rows


@dataclass
class RowResult:
    """What one inference row produced on one LR image."""

    sr: Tensor  # (1, C, H*s, W*s)
    layout: PatchLayout
    subnet_ids: np.ndarray  # per patch, index into net.subnets
    flops_per_patch: float  # average over the patches, router excluded
    router_flops_per_patch: float
    seconds: float


def subnet_for_patches(row: InferenceRow, net: SlimmableSupernet, router: Optional[Router], patches: Tensor,
                       costs: Sequence[float]) -> np.ndarray:
    """The subnet index of every patch under ``row``."""
    if row.mode == 'fixed':
        return np.full(len(patches), net.subnets.index(row.subnet), dtype=np.int64)
    if router is None:
        raise ValueError(f'Inference mode {row.mode!r} needs routing thresholds (a router); fixed mode does not.')
    classes = router.classes(patches)
    if row.mode == 'ceil':
        return route_ceil(classes, router.num_classes, len(costs))
    alpha = row.alpha if row.mode == 'budget' else router.alpha_for_target(costs, row.target)
    return route_budget(classes, router.num_classes, costs, alpha)


@torch.no_grad()
def infer_image(net: SlimmableSupernet, lq: Tensor, row: InferenceRow, router: Optional[Router], patch_size: int,
                stride: int, max_batch: int = 256) -> RowResult:
    """Chop ``lq`` ``(1, C, H, W)`` (in [0, 1]), route every patch under ``row``, run, merge."""
    if router is not None and router.patch_size != patch_size:
        raise ValueError(f'The routing thresholds are for {router.patch_size}-pixel patches; inference uses '
                         f'{patch_size}.')
    synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
    synchronize()
    started = time.perf_counter()
    layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
    patches = chop(lq, layout)
    costs = [net.flops(s, (patch_size, patch_size)) for s in net.subnets]
    subnet_ids = subnet_for_patches(row, net, router, patches, costs)
    sr = run_routed(net, patches, subnet_ids, layout, max_batch)
    synchronize()
    seconds = time.perf_counter() - started
    router_flops = router.flops(lq.shape[1]) if row.needs_router else 0
    return RowResult(sr, layout, subnet_ids, float(np.mean(np.asarray(costs)[subnet_ids])), float(router_flops),
                     seconds)
