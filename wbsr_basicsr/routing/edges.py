"""ARM's edge scores and edge table (Chen et al., ECCV 2022): what a patch's mean absolute Laplacian
says of each subnet's PSNR on it. The table is part of a supernet's calibration
(:mod:`.calibration`); ARM's router (:mod:`.arm_router`) and the planner predict with it.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

NUM_BINS = 30
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # OpenCV's RGB -> grey, as ARM's cv2 call
LAPLACIAN = ((0., 1., 0.), (1., -4., 1.), (0., 1., 0.))  # cv2.Laplacian's default 3 x 3 aperture


def edge_scores(patches: Tensor) -> np.ndarray:
    """Mean absolute Laplacian of each ``(N, C, P, P)`` patch in [0, 1], on its grey levels 0-255
    (borders reflected, as OpenCV does)."""
    return filtered(grey_levels(patches), LAPLACIAN).abs().mean((1, 2, 3)).cpu().numpy()


def grey_levels(patches: Tensor) -> Tensor:
    """``(N, 1, P, P)``: the grey levels 0-255 of ``(N, C, P, P)`` patches in [0, 1] (by :data:`GREY_WEIGHTS`)."""
    grey = sum(w * patches[:, c] for c, w in enumerate(GREY_WEIGHTS)) if patches.shape[1] == 3 else patches[:, 0]
    return 255 * grey[:, None]


def filtered(grey: Tensor, kernel: Tuple[Tuple[float, ...], ...]) -> Tensor:
    """``grey`` ``(N, 1, P, P)`` convolved with a 3 x 3 ``kernel``, borders reflected."""
    weight = torch.tensor(kernel, dtype=grey.dtype, device=grey.device)[None, None]
    return F.conv2d(F.pad(grey, (1, 1, 1, 1), mode='reflect'), weight)


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
