"""ARM's router (Chen et al., ECCV 2022) on a WBSR supernet: Table 1's "+ARM" row.

A patch's edge score is the mean absolute 3 x 3 Laplacian of its grey LR patch (grey levels
0-255). :class:`EdgeTable` holds each subnet's mean PSNR over calibration patches in equal-width
edge-score bins (built by :mod:`.calibration` on a set disjoint from the test sets); a patch
takes ``argmax_m PSNR_m(bin) - eta C_m / C_t``, with ``eta`` solved for a FLOPs target by
:func:`wbsr_basicsr.routing.budget.lagrangian_allocation` (ARM sets it by hand per test set):
``{mode: arm, target: R[, scope: image|dataset]}``.
"""
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .base import Group, BudgetedRouter, Features, PatchRunner, RoutingData, register_router
from .budget import lagrangian_allocation

NUM_BINS = 30
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # OpenCV's RGB -> grey, as ARM's cv2 call
LAPLACIAN = ((0., 1., 0.), (1., -4., 1.), (0., 1., 0.))  # cv2.Laplacian's default 3 x 3 aperture


def edge_scores(patches: Tensor) -> np.ndarray:
    """Mean absolute Laplacian of each ``(N, C, P, P)`` patch in [0, 1], on its grey levels 0-255
    (borders reflected, as OpenCV does)."""
    if patches.shape[1] == 3:
        grey = sum(w * patches[:, c] for c, w in enumerate(GREY_WEIGHTS))
    else:
        grey = patches[:, 0]
    grey = F.pad(255 * grey[:, None], (1, 1, 1, 1), mode='reflect')
    kernel = torch.tensor(LAPLACIAN, dtype=grey.dtype, device=grey.device)[None, None]
    return F.conv2d(grey, kernel).abs().mean((1, 2, 3)).cpu().numpy()


def edge_score_flops(patch_size: int, channels: int = 3) -> int:
    """FLOPs of :func:`edge_scores` for one patch: grey (5 per pixel for RGB), 5-tap Laplacian (9),
    absolute value and mean (2)."""
    return (5 * (channels == 3) + 9 + 2) * patch_size * patch_size


@dataclass(frozen=True)
class EdgeTable:
    """Each subnet's mean patch PSNR in ``len(edges) - 1`` equal-width edge-score bins.

    ``psnr[b][m]``: subnet ``m`` in bin ``b``; a bin no calibration patch fell in (``counts[b]``
    zero) takes the row of the nearest bin that has patches (ARM leaves it undefined).
    """

    edges: Tuple[float, ...]
    psnr: Tuple[Tuple[float, ...], ...]
    counts: Tuple[int, ...]

    @classmethod
    def build(cls, scores: np.ndarray, psnr: np.ndarray, num_bins: int = NUM_BINS) -> 'EdgeTable':
        """The table of calibration patches' edge ``scores`` ``(N,)`` and PSNR per subnet ``(N, M)``."""
        if len(scores) == 0:
            raise ValueError('An edge table needs calibration patches; got none.')
        low, high = float(np.min(scores)), float(np.max(scores))
        edges = np.linspace(low, high if high > low else low + 1., num_bins + 1)
        bins = _bin_of(edges, scores)
        counts = np.bincount(bins, minlength=num_bins)
        sums = np.stack([np.bincount(bins, weights=psnr[:, m], minlength=num_bins) for m in range(psnr.shape[1])], 1)
        filled = np.flatnonzero(counts)
        nearest = filled[np.abs(np.arange(num_bins)[:, None] - filled[None, :]).argmin(1)]
        table = sums[nearest] / counts[nearest][:, None]
        return cls(tuple(map(float, edges)), tuple(tuple(map(float, row)) for row in table), tuple(map(int, counts)))

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """``(N, M)``: the table's PSNR of each subnet for patches with edge ``scores`` (scores beyond
        the calibration range take the end bins)."""
        return np.asarray(self.psnr)[_bin_of(np.asarray(self.edges), scores)]

    @classmethod
    def from_dict(cls, state: Dict) -> 'EdgeTable':
        return cls(tuple(state['edges']), tuple(tuple(row) for row in state['psnr']), tuple(state['counts']))

    def to_dict(self) -> Dict:
        return dict(edges=list(self.edges), psnr=[list(row) for row in self.psnr], counts=list(self.counts))


def _bin_of(edges: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, scores, side='right') - 1, 0, len(edges) - 2)


@register_router
@dataclass(frozen=True)
class ArmRouter(BudgetedRouter):
    """ARM's router held to a FLOPs target; it spends the target even where its table says fewer
    FLOPs would do (docs/routing.md, "ARM's router")."""

    mode: ClassVar[str] = 'arm'
    title: ClassVar[str] = 'ARM'
    feature: ClassVar[str] = 'edges'

    def needs(self) -> Tuple[str, ...]:
        return ('calibration',)

    def measure(self, patches: Tensor, gt: Optional[Tensor], data: RoutingData, runner: PatchRunner) -> Features:
        return {'edges': edge_scores(patches)}

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        predicted = data.calibration.edge_table.predict(group.features['edges'])
        return lagrangian_allocation(-predicted, group.costs, group.target, spend=True)

    def flops(self, data: RoutingData, patch_size: int, channels: int) -> float:
        return float(edge_score_flops(patch_size, channels))
