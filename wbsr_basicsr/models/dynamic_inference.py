"""Dynamic inference rows (paper Sec. 4.2, Table 2): how to infer, and one row on one image.

:class:`InferenceRow` is one way to infer, one row of the paper's Table 2:

- ``ceil`` (Eq. 15) and ``budget`` (Eq. 16, a given ``alpha``): the gradient router;
- ``target_flops``: Eq. 16 held to a ratio of the full FLOPs, on every image, on the whole set,
  or (the paper's reading) on the training patches;
- ``arm``: ARM's edge-score table, its ``eta`` solved for a ratio of the full FLOPs;
- ``classifier``: ClassSR's classifier, its argmax class or, with a ``target``, per-class logit
  offsets solved for a ratio of the full FLOPs;
- ``oracle``: the least-error allocation at a FLOPs ratio, from each patch's error under every
  subnet (analysis; needs GT);
- ``fixed``: every patch to one subnet (the full one: the paper's WBSR-dagger).

The gradient router's rows climb a ``ladder`` of subnets: all of them in cost order (``full``,
the paper's) or the calibrated Pareto ladder (``pareto``).

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

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.routing.arm_router import edge_score_flops, edge_scores
from wbsr_basicsr.routing.budget import allocate_to_target, lagrangian_allocation, route_budget
from wbsr_basicsr.routing.calibration import CALIBRATE_HINT, Calibration
from wbsr_basicsr.routing.classsr_router import TRAIN_HINT, ClassifierRouter
from wbsr_basicsr.routing.gradient_router import Router, route_ceil
from wbsr_basicsr.routing.oracle import gt_patches, patch_errors
from wbsr_basicsr.utils.options import check_keys

from .patches import PatchLayout, chop, run_routed

MODES = ('ceil', 'budget', 'target_flops', 'arm', 'classifier', 'oracle', 'fixed')
SCOPES = ('train', 'image', 'dataset')
DEFAULT_SCOPES = {'target_flops': 'dataset', 'arm': 'dataset', 'classifier': 'dataset',
                  'oracle': 'dataset'}  # measured: docs/results.md
LADDERS = ('full', 'pareto')
GRADIENT_MODES = ('ceil', 'budget', 'target_flops')
MEASURES = ('scores', 'edges', 'logits', 'errors')


@dataclass(frozen=True)
class Routing:
    """What rows route by: the gradient router's thresholds, the supernet's calibration (ARM's
    table, the Pareto ladder) and a ClassSR classifier; each may be missing when no row needs it."""

    router: Optional[Router] = None
    calibration: Optional[Calibration] = None
    classifier: Optional[ClassifierRouter] = None


@dataclass(frozen=True)
class InferenceRow:
    """One way to infer: ``mode`` in :data:`MODES`, with ``subnet`` (fixed), ``alpha`` (budget) or
    ``target`` (target_flops, arm, oracle, optional for classifier: a ratio of the full network's
    FLOPs) and the ``scope`` where that target holds (``train``: Eq. 16's alpha calibrated on the
    training patches, target_flops only; ``image``: every image; ``dataset``: the whole set); the
    gradient router's modes take a ``ladder`` (:data:`LADDERS`). See docs/routing.md."""

    mode: str
    subnet: Optional[Subnet] = None
    alpha: Optional[float] = None
    target: Optional[float] = None
    scope: Optional[str] = None
    ladder: Optional[str] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'Unknown inference mode {self.mode!r}; choose from {MODES}.')
        if self.mode in GRADIENT_MODES and self.ladder is None:
            object.__setattr__(self, 'ladder', 'full')
        if self.mode not in GRADIENT_MODES and self.ladder is not None:
            raise ValueError(f'Inference mode {self.mode!r} takes no ladder; {", ".join(GRADIENT_MODES)} do.')
        if self.ladder is not None and self.ladder not in LADDERS:
            raise ValueError(f'ladder must be one of {LADDERS}, got {self.ladder!r}.')
        budgeted = self.mode in DEFAULT_SCOPES and not (self.mode == 'classifier' and self.target is None)
        if budgeted and self.scope is None:
            object.__setattr__(self, 'scope', DEFAULT_SCOPES[self.mode])
        if not budgeted and self.scope is not None:
            raise ValueError(f'Inference mode {self.mode!r} takes no scope without a target; '
                             f'{", ".join(DEFAULT_SCOPES)} with a target do.')
        scopes = SCOPES if self.mode == 'target_flops' else SCOPES[1:]
        if self.scope is not None and self.scope not in scopes:
            raise ValueError(f'{self.mode} scope must be one of {scopes}, got {self.scope!r}.')
        needs = {'fixed': 'subnet', 'budget': 'alpha', 'target_flops': 'target', 'arm': 'target',
                 'classifier': 'an optional target', 'oracle': 'target'}.get(self.mode)
        allowed = [set(), {'target'}] if self.mode == 'classifier' else [{needs} if needs else set()]
        given = {name for name in ('subnet', 'alpha', 'target') if getattr(self, name) is not None}
        if given not in allowed:
            raise ValueError(f'Inference mode {self.mode!r} takes {needs or "no option"}, '
                             f'got {sorted(given) or "none"}.')
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f'budget alpha must be positive, got {self.alpha}.')
        if self.target is not None and not 0 < self.target <= 1:
            raise ValueError(f'{self.mode} target must lie in (0, 1], got {self.target}.')

    @property
    def label(self) -> str:
        """A short name for tables, logs and file names, e.g. ``fixed_64x16``, ``target_0.65_image``
        or ``ceil_pareto``."""
        if self.mode == 'fixed':
            return f'fixed_{self.subnet[0]}x{self.subnet[1]}'
        if self.mode == 'budget':
            name = f'budget_{self.alpha:g}'
        elif self.scope is not None:
            name = f"{'target' if self.mode == 'target_flops' else self.mode}_{self.target:g}_{self.scope}"
        else:
            name = self.mode
        return name if self.ladder in (None, 'full') else f'{name}_{self.ladder}'

    @property
    def needs_router(self) -> bool:
        return self.mode in GRADIENT_MODES

    @property
    def needs_calibration(self) -> bool:
        return self.mode == 'arm' or self.ladder == 'pareto'

    @property
    def needs_classifier(self) -> bool:
        return self.mode == 'classifier'

    @property
    def needs_gt(self) -> bool:
        return self.mode == 'oracle'


def default_ladder(routing: Routing) -> str:
    """The ladder of rows that name none: the Pareto ladder when there is a calibration (measured
    better: docs/results.md), else the paper's."""
    return 'full' if routing.calibration is None else 'pareto'


def parse_rows(specs: Sequence[Dict], net: SlimmableSupernet, ladder: str = 'full') -> List[InferenceRow]:
    """Inference rows from options, e.g. ``[{mode: ceil}, {mode: fixed, subnet: all}]``.

    A fixed ``subnet`` is ``[w, d]``, ``full``, or ``all`` (one row per subnet, cheapest first);
    a ``target`` may be a list (a sweep: one row per target); ``ladder`` is the default of the
    gradient router's rows.
    """
    rows: List[InferenceRow] = []
    for index, spec in enumerate(specs):
        spec = dict(spec)
        check_keys(f'val.rows[{index}]', spec, [field.name for field in fields(InferenceRow)])
        if spec.get('mode') in GRADIENT_MODES:
            spec.setdefault('ladder', ladder)
        if spec.get('mode') == 'fixed' and spec.get('subnet') == 'all':
            rows.extend(InferenceRow('fixed', subnet=s) for s in net.subnets)
        elif isinstance(spec.get('target'), (list, tuple)):
            rows.extend(InferenceRow(**dict(spec, target=float(t))) for t in spec['target'])
        else:
            if spec.get('mode') == 'fixed':
                chosen = spec.get('subnet')
                spec['subnet'] = net.full_subnet if chosen == 'full' else (None if chosen is None else
                                                                           net.validate_subnet(chosen))
            rows.append(InferenceRow(**spec))
    if len({row.label for row in rows}) != len(rows):
        raise ValueError(f'Inference rows repeat: {[row.label for row in rows]}.')
    return rows


def check_routing(rows: Sequence[InferenceRow], routing: Routing, where: str) -> None:
    """``ValueError`` naming what to provide if a row needs routing data that ``routing`` lacks."""
    wanted = ((routing.router, [row.label for row in rows if row.needs_router],
               'routing thresholds: set routing.stats_file (made by datasets_prep/prepare_div2k.py) or load a WBSR '
               'checkpoint, which carries them'),
              (routing.calibration, [row.label for row in rows if row.needs_calibration],
               f'a routing calibration of this checkpoint: run {CALIBRATE_HINT}'),
              (routing.classifier, [row.label for row in rows if row.needs_classifier],
               f'a ClassSR classifier trained on this supernet: set path.pretrain_network_c (train one: {TRAIN_HINT})'))
    for present, labels, what in wanted:
        if present is None and labels:
            raise ValueError(f'{where}: rows {labels} need {what}.')


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
    per patch the difficulty score and Eq. 7 class (gradient rows), the edge score (ARM rows), the
    classifier's logits (classifier rows) or each subnet's error against the GT (oracle rows)."""

    layout: PatchLayout
    patches: Optional[Tensor]
    scores: Optional[np.ndarray] = None
    classes: Optional[np.ndarray] = None
    edges: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    errors: Optional[np.ndarray] = None

    @property
    def count(self) -> int:
        return len(self.layout.corners)

    def measure(self, rows: Sequence[InferenceRow], net: SlimmableSupernet, routing: Routing, gt: Optional[Tensor],
                max_batch: int) -> Dict[str, float]:
        """Work out what ``rows`` route by; the seconds spent per kind (:data:`MEASURES`)."""
        seconds = dict.fromkeys(MEASURES, 0.)
        if any(row.needs_router for row in rows):
            started = time.perf_counter()
            self.scores, self.classes = routing.router.scores_and_classes(self.patches)
            seconds['scores'] = time.perf_counter() - started
        if any(row.mode == 'arm' for row in rows):
            started = time.perf_counter()
            self.edges = edge_scores(self.patches)
            seconds['edges'] = time.perf_counter() - started
        if any(row.needs_classifier for row in rows):
            started = time.perf_counter()
            self.logits = routing.classifier.logits(self.patches, max_batch)
            seconds['logits'] = time.perf_counter() - started
        oracles = [row.label for row in rows if row.needs_gt]
        if oracles:
            if gt is None:
                raise ValueError(f'{", ".join(oracles)}: each needs the GT image (the oracle is analysis only): test '
                                 'on a paired dataset.')
            started = time.perf_counter()
            self.errors = np.concatenate([
                patch_errors(net, self.patches[start:start + max_batch],
                             gt_patches(gt, self.layout, range(start, min(start + max_batch, self.count))))
                for start in range(0, self.count, max_batch)])
            seconds['errors'] = time.perf_counter() - started
        return seconds


def measure_kind(row: InferenceRow) -> str:
    """Which of :meth:`ImagePatches.measure`'s measurements (:data:`MEASURES`) ``row`` routes by."""
    if row.needs_gt:
        return 'errors'
    return {'arm': 'edges', 'classifier': 'logits'}.get(row.mode, 'scores')


def image_patches(rows: Sequence[InferenceRow], net: SlimmableSupernet, routing: Routing, lq: Tensor,
                  gt: Optional[Tensor], patch_size: int, stride: int, max_batch: int) -> ImagePatches:
    """Chop ``lq`` ``(1, C, H, W)`` and work out what ``rows`` route by."""
    layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
    image = ImagePatches(layout, chop(lq, layout))
    image.measure(rows, net, routing, gt, max_batch)
    return image


def ladder_of(row: InferenceRow, routing: Routing, num_subnets: int) -> np.ndarray:
    """The subnet indices ``row`` climbs, cheapest first."""
    if row.ladder == 'pareto':
        return np.asarray(routing.calibration.pareto_ladder())
    return np.arange(num_subnets)


def allocate(row: InferenceRow, images: Sequence[ImagePatches], net: SlimmableSupernet, routing: Routing,
             costs: Sequence[float]) -> np.ndarray:
    """The subnet index of every patch of ``images`` (concatenated) under ``row``; a budget with an
    ``image`` or ``dataset`` scope holds over exactly these images."""
    costs = np.asarray(costs, dtype=np.float64)
    if row.mode == 'fixed':
        return np.full(sum(image.count for image in images), net.subnets.index(row.subnet), dtype=np.int64)
    if row.mode == 'oracle':
        return lagrangian_allocation(np.concatenate([image.errors for image in images]), costs, row.target)
    if row.mode == 'arm':
        predicted = routing.calibration.edge_table.predict(np.concatenate([image.edges for image in images]))
        return lagrangian_allocation(-predicted, costs, row.target, spend=True)
    if row.mode == 'classifier':
        return routing.classifier.allocate(np.concatenate([image.logits for image in images]), costs, row.target)
    ladder = ladder_of(row, routing, len(costs))
    return ladder[allocate_on_ladder(row, images, routing.router, costs[ladder])]


def allocate_on_ladder(row: InferenceRow, images: Sequence[ImagePatches], router: Router,
                       costs: np.ndarray) -> np.ndarray:
    """The gradient router's rows on a ladder of subnets with ``costs``, topped by the full network
    (Eq. 16's ``C_t``); indices into the ladder."""
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
                        net: SlimmableSupernet, routing: Routing, patch_size: int, stride: int,
                        max_batch: int = 256) -> Dict[str, Tuple[List[np.ndarray], float]]:
    """First pass of the ``dataset``-scope ``rows`` over ``(lq, gt)`` pairs (``gt`` may be None unless
    a row is an oracle): every image is measured once (scored, edge-scored, or for oracle rows
    run through every subnet); then each row allocates over every patch of the set at once. Per
    row: each image's share, and the seconds per image of the part of the pass that row needed."""
    costs = net.subnet_costs((patch_size, patch_size))
    images: List[ImagePatches] = []
    seconds = dict.fromkeys(MEASURES, 0.)
    for lq, gt in pairs:
        layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
        image = ImagePatches(layout, chop(lq, layout))
        for kind, spent in image.measure(rows, net, routing, gt, max_batch).items():
            seconds[kind] += spent
        image.patches = None  # a set's patches would not fit in memory; the second pass chops again
        images.append(image)
    bounds = np.cumsum([image.count for image in images])[:-1]
    return {row.label: (np.split(allocate(row, images, net, routing, costs), bounds),
                        seconds[measure_kind(row)] / max(1, len(images))) for row in rows}


def router_flops(row: InferenceRow, routing: Routing, patch_size: int, channels: int) -> float:
    """FLOPs per patch of deciding ``row``'s routing (the oracle's analysis and fixed rows: none)."""
    if row.needs_router:
        return float(routing.router.flops(channels))
    if row.needs_classifier:
        return float(routing.classifier.flops(patch_size))
    return float(edge_score_flops(patch_size, channels)) if row.mode == 'arm' else 0.


@torch.no_grad()
def infer_image(net: SlimmableSupernet, lq: Tensor, row: InferenceRow, routing: Routing, patch_size: int,
                stride: int, max_batch: int = 256, subnet_ids: Optional[np.ndarray] = None,
                gt: Optional[Tensor] = None) -> RowResult:
    """Chop ``lq`` ``(1, C, H, W)`` (in [0, 1]), route every patch under ``row`` (or take the given
    ``subnet_ids``, as a ``dataset`` scope allocates them), run, merge. ``gt``: oracle rows only."""
    if routing.router is not None and routing.router.patch_size != patch_size:
        raise ValueError(f'The routing thresholds are for {routing.router.patch_size}-pixel patches; inference uses '
                         f'{patch_size}.')
    check_routing([row], routing, 'Dynamic inference')
    synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
    synchronize()
    started = time.perf_counter()
    costs = net.subnet_costs((patch_size, patch_size))
    if subnet_ids is None:
        if row.scope == 'dataset':
            raise ValueError(f'Row {row.label} is allocated over the whole set first (dataset_allocations); pass '
                             'its subnet_ids.')
        image = image_patches([row], net, routing, lq, gt, patch_size, stride, max_batch)
        layout, patches = image.layout, image.patches
        subnet_ids = allocate(row, [image], net, routing, costs)
    else:
        layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
        patches = chop(lq, layout)
        if len(subnet_ids) != len(patches):
            raise ValueError(f'{len(subnet_ids)} subnet ids for {len(patches)} patches.')
    sr = run_routed(net, patches, subnet_ids, layout, max_batch)
    synchronize()
    seconds = time.perf_counter() - started
    return RowResult(sr, layout, subnet_ids, float(np.mean(costs[subnet_ids])),
                     router_flops(row, routing, patch_size, lq.shape[1]), seconds)
