"""The quality model: each subnet's PSNR on an LR patch predicted from the patch's statistics by a ridge
regression on them and their pairwise products, fitted on the calibration's patches (docs/routing.md,
"Predicting quality"), with the error of the gains it predicts measured on calibration images it was
not fitted on.

ARM's edge table (:mod:`.edges`) predicts from one statistic, the mean absolute Laplacian: it tells a
flat patch from a busy one but not an edge, which a larger subnet draws better, from a texture, which
none restores. The statistics here add gradient strength and coherence (edges against texture), the
detail a bicubic down-and-up loses, contrast and brightness.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .edges import LAPLACIAN, filtered, grey_levels

STATISTICS = ('edge', 'gradient', 'coherence', 'detail', 'texture', 'contrast', 'brightness')
"""What :func:`patch_statistics` measures, in its columns' order."""

SOBEL_X = ((-1., 0., 1.), (-2., 0., 2.), (-1., 0., 1.))
FOLDS = 5
RIDGE = 10.0


def patch_statistics(patches: Tensor) -> np.ndarray:
    """``(N, len(STATISTICS))`` of ``(N, C, P, P)`` LR patches in [0, 1], on grey levels 0-255: log of
    the mean absolute Laplacian and of the mean Sobel gradient, the coherence of the patch's structure
    tensor (1: one direction, an edge; 0: none, texture or flat), log of the mean squared detail lost
    by a bicubic x2 down-and-up, log of the mean 3 x 3 variance, log of the standard deviation, and the
    mean."""
    grey = grey_levels(patches.float())
    laplacian, dx, dy = (filtered(grey, kernel) for kernel in (LAPLACIAN, SOBEL_X, tuple(zip(*SOBEL_X))))
    dx, dy = dx / 8, dy / 8
    jxx, jyy, jxy = (t.mean((1, 2, 3)) for t in (dx * dx, dy * dy, dx * dy))
    coherence = ((jxx - jyy) ** 2 + 4 * jxy ** 2).sqrt() / (jxx + jyy + 1e-6)
    side = grey.shape[-1]
    blurred = F.interpolate(F.interpolate(grey, scale_factor=0.5, mode='bicubic', align_corners=False),
                            size=(side, side), mode='bicubic', align_corners=False)
    local = F.avg_pool2d(F.pad(grey, (1, 1, 1, 1), mode='reflect'), 3, 1)
    texture = F.avg_pool2d(F.pad(grey * grey, (1, 1, 1, 1), mode='reflect'), 3, 1) - local ** 2
    columns = (laplacian.abs().mean((1, 2, 3)).log1p(), (dx * dx + dy * dy).sqrt().mean((1, 2, 3)).log1p(), coherence,
               ((grey - blurred) ** 2).mean((1, 2, 3)).log1p(), texture.clamp(min=0).mean((1, 2, 3)).log1p(),
               grey.std((1, 2, 3), unbiased=False).log1p(), grey.mean((1, 2, 3)) / 255)
    return torch.stack(columns, 1).cpu().numpy().astype(np.float64)


@dataclass(frozen=True)
class QualityModel:
    """Per subnet, PSNR = ``weights . d(z)`` of a patch's statistics ``s`` (:func:`patch_statistics`),
    standardised (``z = (s - center) / scale``), where ``d(z)`` is ``z``, the products of every pair of
    its terms (squares included) and 1; ``gain_error``: the RMS error (dB) of the predicted difference
    between two subnets' PSNR on an image (mean over its patches), every pair of subnets, on the
    calibration images held out of each of ``folds`` fits (None: one image, nothing held out)."""

    center: Tuple[float, ...]
    scale: Tuple[float, ...]
    weights: Tuple[Tuple[float, ...], ...]  # (terms of d, M)
    gain_error: Optional[float]
    folds: int

    def predict(self, statistics: np.ndarray) -> np.ndarray:
        """``(N, M)``: each subnet's PSNR on patches with ``statistics`` ``(N, len(STATISTICS))``."""
        return _design(statistics, np.asarray(self.center), np.asarray(self.scale)) @ np.asarray(self.weights)

    @classmethod
    def fit(cls, statistics: np.ndarray, psnr: np.ndarray, images: np.ndarray, folds: int = FOLDS) -> 'QualityModel':
        """The model of ``statistics`` ``(N, S)`` and PSNR ``(N, M)`` of N calibration patches from the
        ``images`` ``(N,)`` they belong to; its :attr:`gain_error` over ``folds`` folds of the images
        (none with fewer than two images)."""
        center, scale, weights = _fitted(statistics, psnr)
        return cls(tuple(map(float, center)), tuple(map(float, scale)),
                   tuple(tuple(map(float, row)) for row in weights),
                   _held_out_gain_error(statistics, psnr, images, folds), folds)

    @classmethod
    def from_dict(cls, state: Dict) -> 'QualityModel':
        """The stored model; ``ValueError`` if it was fitted on other statistics than :data:`STATISTICS`."""
        if tuple(state['statistics']) != STATISTICS:
            raise ValueError(f'a quality model of the statistics {state["statistics"]}, not {list(STATISTICS)}: '
                             'calibrate the checkpoint again (wbsr-calibrate --routing-only).')
        return cls(tuple(state['center']), tuple(state['scale']), tuple(tuple(row) for row in state['weights']),
                   None if state['gain_error'] is None else float(state['gain_error']), int(state['folds']))

    def to_dict(self) -> Dict:
        return dict(center=list(self.center), scale=list(self.scale), weights=[list(row) for row in self.weights],
                    gain_error=self.gain_error, folds=self.folds, statistics=list(STATISTICS))


def _design(statistics: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``d(z)`` of :class:`QualityModel`: the standardised statistics, their pairwise products and 1."""
    z = (statistics - center) / scale
    first, second = np.triu_indices(z.shape[1])
    return np.concatenate([z, z[:, first] * z[:, second], np.ones((len(z), 1))], 1)


def _fitted(statistics: np.ndarray, psnr: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The centre, scale and weights of :class:`QualityModel` by least squares on ``d(z)``, with a
    penalty of :data:`RIDGE` on every weight but the intercept."""
    center, scale = statistics.mean(0), statistics.std(0) + 1e-9
    design = _design(statistics, center, scale)
    penalty = RIDGE * np.diag([1.] * (design.shape[1] - 1) + [0.])
    return center, scale, np.linalg.solve(design.T @ design + penalty, design.T @ psnr)


def _held_out_gain_error(statistics: np.ndarray, psnr: np.ndarray, images: np.ndarray,
                         folds: int) -> Optional[float]:
    """RMS error of each image's predicted gain of every subnet over every other, each image predicted by
    a model fitted without it (images split into ``folds`` interleaved folds); None with one image."""
    names, image_of = np.unique(images, return_inverse=True)
    if len(names) < 2:
        return None
    fold_of = image_of % min(folds, len(names))
    predicted = np.empty_like(psnr)
    for fold in np.unique(fold_of):
        held = fold_of == fold
        center, scale, weights = _fitted(statistics[~held], psnr[~held])
        predicted[held] = _design(statistics[held], center, scale) @ weights
    errors = _image_means(predicted - psnr, image_of, len(names))  # (images, M)
    pairs = errors[:, :, None] - errors[:, None, :]
    count = psnr.shape[1]
    return float(np.sqrt((pairs ** 2).sum() / (len(names) * count * (count - 1)))) if count > 1 else 0.


def _image_means(values: np.ndarray, image_of: np.ndarray, count: int) -> np.ndarray:
    sums = np.stack([np.bincount(image_of, weights=column, minlength=count) for column in values.T], 1)
    return sums / np.bincount(image_of, minlength=count)[:, None]
