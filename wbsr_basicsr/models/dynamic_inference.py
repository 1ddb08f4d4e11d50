"""Dynamic inference rows (paper Sec. 4.2, Table 2): how to infer, and one row on one image.

:class:`InferenceRow` is one way to infer, one row of the paper's Table 2:

- ``ceil`` (Eq. 15) and ``budget`` (Eq. 16, a given ``alpha``): the gradient router;
- ``target_flops``: the ``budget`` rule with the ``alpha`` whose average cost on the training
  patches' classes is closest to a target ratio of the full cost;
- ``fixed``: every patch to one subnet (the full one: the paper's WBSR-dagger).

:func:`infer_image` chops one LR image (:mod:`.patches`), routes every patch
(:mod:`wbsr_basicsr.routing`), runs and merges, and reports FLOPs, subnet usage and time.
"""
import time
from dataclasses import dataclass, fields
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.routing.budget import allocate_to_target, route_budget
from wbsr_basicsr.routing.gradient_router import Router, route_ceil
from wbsr_basicsr.utils.options import check_keys

from .patches import PatchLayout, chop, run_routed

MODES = ('ceil', 'budget', 'target_flops', 'fixed')
SCOPES = ('train', 'image', 'dataset')
DEFAULT_SCOPE = 'train'


@dataclass(frozen=True)
class InferenceRow:
    """One way to infer: ``mode`` in :data:`MODES`, with ``subnet`` (fixed), ``alpha`` (budget)
    or ``target`` (target_flops, a ratio of the full network's FLOPs) and its ``scope``: where the
    target holds (``train``: Eq. 16's alpha calibrated on the training patches; ``image``: every
    image; ``dataset``: the whole set; docs/routing.md)."""

    mode: str
    subnet: Optional[Subnet] = None
    alpha: Optional[float] = None
    target: Optional[float] = None
    scope: Optional[str] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'Unknown inference mode {self.mode!r}; choose from {MODES}.')
        if self.mode == 'target_flops' and self.scope is None:
            object.__setattr__(self, 'scope', DEFAULT_SCOPE)
        if self.mode != 'target_flops' and self.scope is not None:
            raise ValueError(f'Inference mode {self.mode!r} takes no scope; target_flops does.')
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f'target_flops scope must be one of {SCOPES}, got {self.scope!r}.')
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
            return f'target_{self.target:g}_{self.scope}'
        return 'ceil'

    @property
    def needs_router(self) -> bool:
        return self.mode != 'fixed'


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


def subnet_for_patches(row: InferenceRow, net: SlimmableSupernet, router: Optional[Router], patches: Tensor,
                       costs: Sequence[float]) -> np.ndarray:
    """The subnet index of every patch under ``row`` (a ``dataset`` scope needs the whole set:
    :func:`dataset_allocations`)."""
    if row.mode == 'fixed':
        return np.full(len(patches), net.subnets.index(row.subnet), dtype=np.int64)
    if router is None:
        raise ValueError(f'Inference mode {row.mode!r} needs routing thresholds (a router); fixed mode does not.')
    if row.scope == 'dataset':
        raise ValueError('A target_flops row with scope dataset is allocated over the whole set first '
                         '(dataset_allocations); pass its subnet_ids.')
    scores, classes = router.scores_and_classes(patches)
    if row.mode == 'ceil':
        return route_ceil(classes, router.num_classes, len(costs))
    if row.mode == 'budget':
        return route_budget(classes, router.num_classes, costs, row.alpha)
    if row.scope == 'image':
        return allocate_to_target(classes, scores, router.num_classes, costs, row.target)
    return route_budget(classes, router.num_classes, costs, router.alpha_for_target(costs, row.target))


def dataset_allocations(images: Iterable[Tensor], row: InferenceRow, net: SlimmableSupernet, router: Router,
                        patch_size: int, stride: int) -> List[np.ndarray]:
    """First pass of a ``dataset``-scope row: score every patch of every ``(1, C, H, W)`` LR image,
    allocate subnets over all of them at once, and return each image's share."""
    costs = [net.flops(s, (patch_size, patch_size)) for s in net.subnets]
    scores, classes, counts = [], [], []
    for lq in images:
        image_scores, image_classes = router.scores_and_classes(chop(lq, PatchLayout.cover(*lq.shape[-2:], patch_size,
                                                                                          stride)))
        scores.append(image_scores)
        classes.append(image_classes)
        counts.append(len(image_scores))
    allocation = allocate_to_target(np.concatenate(classes), np.concatenate(scores), router.num_classes, costs,
                                    row.target)
    return np.split(allocation, np.cumsum(counts)[:-1])


@torch.no_grad()
def infer_image(net: SlimmableSupernet, lq: Tensor, row: InferenceRow, router: Optional[Router], patch_size: int,
                stride: int, max_batch: int = 256, subnet_ids: Optional[np.ndarray] = None) -> RowResult:
    """Chop ``lq`` ``(1, C, H, W)`` (in [0, 1]), route every patch under ``row`` (or take the given
    ``subnet_ids``, as a ``dataset`` scope allocates them), run, merge."""
    if router is not None and router.patch_size != patch_size:
        raise ValueError(f'The routing thresholds are for {router.patch_size}-pixel patches; inference uses '
                         f'{patch_size}.')
    synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
    synchronize()
    started = time.perf_counter()
    layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
    patches = chop(lq, layout)
    costs = [net.flops(s, (patch_size, patch_size)) for s in net.subnets]
    if subnet_ids is None:
        subnet_ids = subnet_for_patches(row, net, router, patches, costs)
    elif len(subnet_ids) != len(patches):
        raise ValueError(f'{len(subnet_ids)} subnet ids for {len(patches)} patches.')
    sr = run_routed(net, patches, subnet_ids, layout, max_batch)
    synchronize()
    seconds = time.perf_counter() - started
    router_flops = router.flops(lq.shape[1]) if row.needs_router else 0
    return RowResult(sr, layout, subnet_ids, float(np.mean(np.asarray(costs)[subnet_ids])), float(router_flops),
                     seconds)
