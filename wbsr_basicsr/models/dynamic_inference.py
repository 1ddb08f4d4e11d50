"""Dynamic inference rows (paper Sec. 4.2, Table 2): how to infer, and one row on one image.

:class:`InferenceRow` is one way to infer, one row of the paper's Table 2:

- ``ceil`` (Eq. 15) and ``budget`` (Eq. 16, a given ``alpha``): the gradient router;
- ``target_flops``: Eq. 16 held to a ratio of the full FLOPs, on every image, on the whole set,
  or (the paper's reading) on the training patches;
- ``oracle``: the least-error allocation at a FLOPs ratio, from each patch's error under every
  subnet (analysis; needs GT);
- ``fixed``: every patch to one subnet (the full one: the paper's WBSR-dagger).

:func:`infer_image` chops one LR image (:mod:`.patches`), allocates a subnet to every patch
(:func:`allocate`, with :mod:`wbsr_basicsr.routing`), runs and merges, and reports FLOPs,
subnet usage and time; :func:`dataset_allocations` is the first pass of a ``dataset`` scope.
"""
import time
from dataclasses import dataclass, fields
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.routing.budget import allocate_to_target, route_budget
from wbsr_basicsr.routing.gradient_router import Router, route_ceil
from wbsr_basicsr.routing.oracle import oracle_allocation, patch_errors
from wbsr_basicsr.utils.options import check_keys

from .patches import PatchLayout, chop, run_routed

MODES = ('ceil', 'budget', 'target_flops', 'oracle', 'fixed')
SCOPES = ('train', 'image', 'dataset')
DEFAULT_SCOPES = {'target_flops': 'dataset', 'oracle': 'dataset'}  # measured best: docs/results.md


@dataclass(frozen=True)
class InferenceRow:
    """One way to infer: ``mode`` in :data:`MODES`, with ``subnet`` (fixed), ``alpha`` (budget) or
    ``target`` (target_flops, oracle: a ratio of the full network's FLOPs) and the ``scope`` where
    that target holds (``train``: Eq. 16's alpha calibrated on the training patches, target_flops
    only; ``image``: every image; ``dataset``: the whole set). See docs/routing.md."""

    mode: str
    subnet: Optional[Subnet] = None
    alpha: Optional[float] = None
    target: Optional[float] = None
    scope: Optional[str] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'Unknown inference mode {self.mode!r}; choose from {MODES}.')
        if self.mode in DEFAULT_SCOPES and self.scope is None:
            object.__setattr__(self, 'scope', DEFAULT_SCOPES[self.mode])
        if self.mode not in DEFAULT_SCOPES and self.scope is not None:
            raise ValueError(f'Inference mode {self.mode!r} takes no scope; target_flops and oracle do.')
        scopes = SCOPES if self.mode == 'target_flops' else SCOPES[1:]
        if self.scope is not None and self.scope not in scopes:
            raise ValueError(f'{self.mode} scope must be one of {scopes}, got {self.scope!r}.')
        needs = {'fixed': 'subnet', 'budget': 'alpha', 'target_flops': 'target', 'oracle': 'target'}.get(self.mode)
        given = {name for name in ('subnet', 'alpha', 'target') if getattr(self, name) is not None}
        if given != ({needs} if needs else set()):
            raise ValueError(f'Inference mode {self.mode!r} takes {needs or "no option"}, '
                             f'got {sorted(given) or "none"}.')
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f'budget alpha must be positive, got {self.alpha}.')
        if self.target is not None and not 0 < self.target <= 1:
            raise ValueError(f'{self.mode} target must lie in (0, 1], got {self.target}.')

    @property
    def label(self) -> str:
        """A short name for tables, logs and file names, e.g. ``fixed_64x16`` or ``target_0.65``."""
        if self.mode == 'fixed':
            return f'fixed_{self.subnet[0]}x{self.subnet[1]}'
        if self.mode == 'budget':
            return f'budget_{self.alpha:g}'
        if self.mode in DEFAULT_SCOPES:
            return f"{'target' if self.mode == 'target_flops' else 'oracle'}_{self.target:g}_{self.scope}"
        return 'ceil'

    @property
    def needs_router(self) -> bool:
        return self.mode not in ('fixed', 'oracle')

    @property
    def needs_gt(self) -> bool:
        return self.mode == 'oracle'


def parse_rows(specs: Sequence[Dict], net: SlimmableSupernet) -> List[InferenceRow]:
    """Inference rows from options, e.g. ``[{mode: ceil}, {mode: fixed, subnet: all}]``.

    A fixed ``subnet`` is ``[w, d]``, ``full``, or ``all`` (one row per subnet, cheapest first).
    """
    rows: List[InferenceRow] = []
    for index, spec in enumerate(specs):
        spec = dict(spec)
        check_keys(f'val.rows[{index}]', spec, [field.name for field in fields(InferenceRow)])
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


@dataclass
class ImagePatches:
    """What routing needs of one image's patches: the patches (dropped once no longer needed), and
    per patch the difficulty score and Eq. 7 class (routed rows) or each subnet's error against
    the GT (oracle rows)."""

    layout: PatchLayout
    patches: Optional[Tensor]
    scores: Optional[np.ndarray] = None
    classes: Optional[np.ndarray] = None
    errors: Optional[np.ndarray] = None

    @property
    def count(self) -> int:
        return len(self.layout.corners)

    def add_scores(self, router: Optional[Router], rows: Sequence[InferenceRow]) -> None:
        if router is None:
            raise ValueError(f'{", ".join(row.label for row in rows)}: each needs routing thresholds (a router); '
                             'fixed mode does not.')
        self.scores, self.classes = router.scores_and_classes(self.patches)

    def add_errors(self, net: SlimmableSupernet, lq: Tensor, gt: Optional[Tensor], rows: Sequence[InferenceRow],
                   max_batch: int) -> None:
        if gt is None:
            raise ValueError(f'{", ".join(row.label for row in rows)}: each needs the GT image (the oracle is '
                             'analysis only): test on a paired dataset.')
        pad_h, pad_w = self.layout.padding
        scale = gt.shape[-1] // lq.shape[-1]
        gt = F.pad(gt, (0, pad_w * scale, 0, pad_h * scale), mode='replicate') if pad_h or pad_w else gt
        self.errors = patch_errors(net, self.patches, gt, self.layout.corners, max_batch)


def image_patches(rows: Sequence[InferenceRow], net: SlimmableSupernet, router: Optional[Router], lq: Tensor,
                  gt: Optional[Tensor], patch_size: int, stride: int, max_batch: int) -> ImagePatches:
    """Chop ``lq`` ``(1, C, H, W)`` and work out what ``rows`` route by."""
    layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
    image = ImagePatches(layout, chop(lq, layout))
    routed = [row for row in rows if row.needs_router]
    if routed:
        image.add_scores(router, routed)
    oracles = [row for row in rows if row.needs_gt]
    if oracles:
        image.add_errors(net, lq, gt, oracles, max_batch)
    return image


def allocate(row: InferenceRow, images: Sequence[ImagePatches], net: SlimmableSupernet, router: Optional[Router],
             costs: Sequence[float]) -> np.ndarray:
    """The subnet index of every patch of ``images`` (concatenated) under ``row``; a budget with an
    ``image`` or ``dataset`` scope holds over exactly these images."""
    if row.mode == 'fixed':
        return np.full(sum(image.count for image in images), net.subnets.index(row.subnet), dtype=np.int64)
    if row.mode == 'oracle':
        return oracle_allocation(np.concatenate([image.errors for image in images]), costs, row.target)
    classes = np.concatenate([image.classes for image in images])
    if row.mode == 'ceil':
        return route_ceil(classes, router.num_classes, len(costs))
    if row.mode == 'budget':
        return route_budget(classes, router.num_classes, costs, row.alpha)
    if row.scope == 'train':
        return route_budget(classes, router.num_classes, costs, router.alpha_for_target(costs, row.target))
    scores = np.concatenate([image.scores for image in images])
    return allocate_to_target(classes, scores, router.num_classes, costs, row.target)


def dataset_allocations(pairs: Iterable[Tuple[Tensor, Optional[Tensor]]], rows: Sequence[InferenceRow],
                        net: SlimmableSupernet, router: Optional[Router], patch_size: int, stride: int,
                        max_batch: int = 256) -> Dict[str, Tuple[List[np.ndarray], float]]:
    """First pass of the ``dataset``-scope ``rows`` over ``(lq, gt)`` pairs (``gt`` may be None unless
    a row is an oracle): every image is scored once (and, for oracle rows, run through every subnet
    once); then each row allocates over every patch of the set at once. Per row: each image's
    share, and the seconds per image of the part of the pass that row needed."""
    costs = [net.flops(s, (patch_size, patch_size)) for s in net.subnets]
    routed = [row for row in rows if row.needs_router]
    oracles = [row for row in rows if row.needs_gt]
    images: List[ImagePatches] = []
    seconds = {'scores': 0., 'errors': 0.}
    for lq, gt in pairs:
        layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
        image = ImagePatches(layout, chop(lq, layout))
        started = time.perf_counter()
        if routed:
            image.add_scores(router, routed)
        seconds['scores'] += time.perf_counter() - started
        started = time.perf_counter()
        if oracles:
            image.add_errors(net, lq, gt, oracles, max_batch)
        seconds['errors'] += time.perf_counter() - started
        image.patches = None  # a set's patches would not fit in memory; the second pass chops again
        images.append(image)
    bounds = np.cumsum([image.count for image in images])[:-1]
    return {row.label: (np.split(allocate(row, images, net, router, costs), bounds),
                        seconds['errors' if row.needs_gt else 'scores'] / max(1, len(images))) for row in rows}


@torch.no_grad()
def infer_image(net: SlimmableSupernet, lq: Tensor, row: InferenceRow, router: Optional[Router], patch_size: int,
                stride: int, max_batch: int = 256, subnet_ids: Optional[np.ndarray] = None,
                gt: Optional[Tensor] = None) -> RowResult:
    """Chop ``lq`` ``(1, C, H, W)`` (in [0, 1]), route every patch under ``row`` (or take the given
    ``subnet_ids``, as a ``dataset`` scope allocates them), run, merge. ``gt``: oracle rows only."""
    if router is not None and router.patch_size != patch_size:
        raise ValueError(f'The routing thresholds are for {router.patch_size}-pixel patches; inference uses '
                         f'{patch_size}.')
    synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
    synchronize()
    started = time.perf_counter()
    costs = [net.flops(s, (patch_size, patch_size)) for s in net.subnets]
    if subnet_ids is None:
        if row.scope == 'dataset':
            raise ValueError(f'Row {row.label} is allocated over the whole set first (dataset_allocations); pass '
                             'its subnet_ids.')
        image = image_patches([row], net, router, lq, gt, patch_size, stride, max_batch)
        layout, patches = image.layout, image.patches
        subnet_ids = allocate(row, [image], net, router, costs)
    else:
        layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
        patches = chop(lq, layout)
        if len(subnet_ids) != len(patches):
            raise ValueError(f'{len(subnet_ids)} subnet ids for {len(patches)} patches.')
    sr = run_routed(net, patches, subnet_ids, layout, max_batch)
    synchronize()
    seconds = time.perf_counter() - started
    router_flops = router.flops(lq.shape[1]) if row.needs_router else 0
    return RowResult(sr, layout, subnet_ids, float(np.mean(np.asarray(costs)[subnet_ids])), float(router_flops),
                     seconds)
