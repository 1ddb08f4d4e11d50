"""Gradient statistics of LR patches: the one measure of patch difficulty in WBSR.

Used by the preparation step (HES statistics), the HES dataset (Sec. 4.1.1, Eq. 7-8) and
dynamic inference (Sec. 4.2, Eq. 15-16), so that all three score patches identically.

For an LR patch, on its luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` in [0, 1], the gradient
vector (docs/paper_reading.md, "Gradient vector") is

    g = (mean |Gh|, std |Gh|, mean |Gv|, std |Gv|)

with ``Gh``, ``Gv`` the 3 x 3 Sobel responses over the patch's valid interior (no padding,
so a patch's score depends on its own pixels only). The difficulty score is ``s = sum(g)``.
Classes follow Eq. 7: ``t_k = sorted(s)[floor(k N / K)]``, class ``k`` = number of thresholds
not above ``s``.
"""
from typing import Callable, List, Sequence, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

Array = TypeVar('Array', Tensor, np.ndarray)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
SOBEL_H = ((-1., 0., 1.), (-2., 0., 2.), (-1., 0., 1.))  # responds to horizontal change
VECTOR_FIELDS = ('mean_abs_gh', 'std_abs_gh', 'mean_abs_gv', 'std_abs_gv')
SCORE_DEFINITION = 'sum of (mean|Gh|, std|Gh|, mean|Gv|, std|Gv|), Sobel 3x3 on BT.601 luma in [0, 1]'


def luma(images: Array) -> Array:
    """``(N, C, H, W)`` RGB (C = 3) or gray (C = 1) -> ``(N, H, W)`` BT.601 luma."""
    channels = images.shape[-3]
    if channels == 1:
        return images[..., 0, :, :]
    if channels == 3:
        red, green, blue = LUMA_WEIGHTS
        return red * images[..., 0, :, :] + green * images[..., 1, :, :] + blue * images[..., 2, :, :]
    raise ValueError(f'Expected 1 or 3 channels (gray or RGB), got {channels}.')


def sobel_magnitudes(images: Array) -> Array:
    """``(N, C, H, W)`` RGB or gray in [0, 1] -> ``(N, 2, H - 2, W - 2)``: ``|Gh|``, ``|Gv|`` of the
    luma on the valid interior, in float32, for torch tensors (any device) and numpy arrays alike.

    The 3 x 3 Sobel (``SOBEL_H`` and its transpose, as a cross-correlation) is separable: a
    central difference along one axis, smoothed by (1, 2, 1) along the other. Slicing and
    arithmetic only: numpy runs it on the calling thread, with no thread pool to wake.
    """
    y = luma(images.float() if isinstance(images, Tensor) else images.astype(np.float32, copy=False))
    across = y[..., :, 2:] - y[..., :, :-2]  # change along the width
    down = y[..., 2:, :] - y[..., :-2, :]  # change along the height
    gh = across[..., :-2, :] + 2 * across[..., 1:-1, :] + across[..., 2:, :]
    gv = down[..., :-2] + 2 * down[..., 1:-1] + down[..., 2:]
    return abs(_stack(images)([gh, gv], 1))


def _stack(like: Array) -> Callable:
    """``torch.stack`` or ``numpy.stack``, whichever suits ``like``."""
    return torch.stack if isinstance(like, Tensor) else np.stack


def gradient_vectors_at(images: Tensor, patch_size: int, tops: Sequence[int], lefts: Sequence[int]) -> Tensor:
    """Gradient vectors of the ``patch_size`` windows at every ``(top, left)`` of a grid.

    ``images`` ``(N, C, H, W)`` in [0, 1] -> ``(N, len(tops), len(lefts), 4)``. Window sums
    come from integral images, so the cost does not grow with the window size.
    """
    if patch_size < 3:
        raise ValueError(f'patch_size must be at least 3 for a 3 x 3 Sobel, got {patch_size}.')
    # float64 moments: E[x^2] - E[x]^2 loses too much in float32 on near-flat patches.
    magnitudes = sobel_magnitudes(images).double()
    window = patch_size - 2
    top = torch.as_tensor(list(tops), dtype=torch.long, device=images.device).view(-1, 1)
    left = torch.as_tensor(list(lefts), dtype=torch.long, device=images.device).view(1, -1)
    mean = window_sums(magnitudes, top, left, window) / window**2
    mean_sq = window_sums(magnitudes**2, top, left, window) / window**2
    return _vectors_from_moments(mean, mean_sq)


def _vectors_from_moments(mean: Tensor, mean_sq: Tensor) -> Tensor:
    """``(N, 2, ...)`` first and second moments of ``|Gh|``, ``|Gv|`` -> ``(N, ..., 4)`` vectors."""
    std = (mean_sq - mean**2).clamp_min(0).sqrt()
    return torch.stack([mean[:, 0], std[:, 0], mean[:, 1], std[:, 1]], dim=-1).float()


def window_sums(maps: Tensor, top: Tensor, left: Tensor, window: int) -> Tensor:
    """Sums of ``maps`` ``(N, C, H, W)`` over ``window``-square windows at ``top x left``."""
    integral = F.pad(maps.cumsum(-2).cumsum(-1), (1, 0, 1, 0))
    bottom, right = top + window, left + window
    return integral[..., bottom, right] - integral[..., top, right] - integral[..., bottom, left] + integral[
        ..., top, left]


def grid_gradient_vectors(images: Tensor, patch_size: int, stride: int) -> Tensor:
    """Gradient vectors on the :func:`grid_positions` grid of each image (every pixel covered).

    ``(N, C, H, W)`` -> ``(N, rows, cols, 4)``.
    """
    height, width = images.shape[-2:]
    return gradient_vectors_at(images, patch_size, grid_positions(height, patch_size, stride),
                               grid_positions(width, patch_size, stride))


def patch_gradient_vectors(patches: Array) -> Array:
    """``(N, C, P, P)`` patches in [0, 1] -> ``(N, 4)`` float32 gradient vectors, one per whole
    patch; torch tensors (on their device) or numpy arrays (on the calling thread) alike."""
    height, width = patches.shape[-2:]
    if height != width or height < 3:
        raise ValueError(f'Patches must be square and at least 3 x 3, got {height} x {width}.')
    magnitudes = sobel_magnitudes(patches)
    # One window covering the patch: a direct two-pass mean and std, accurate in float32 on flat patches.
    mean = magnitudes.mean((-2, -1))
    std = ((magnitudes - mean[..., None, None])**2).mean((-2, -1))**0.5
    return _stack(patches)([mean, std], -1).reshape(-1, 4)


def difficulty_scores(vectors: Array) -> Array:
    """The scalar score ``s = sum(g)`` of each gradient vector: ``(..., 4)`` -> ``(...)``, for torch
    tensors and numpy arrays alike (HES classifies its batches in numpy, off torch's thread pool)."""
    return vectors.sum(-1)


def grid_positions(length: int, patch_size: int, stride: int) -> List[int]:
    """Start offsets of patches along one axis: every ``stride``, plus one aligned to the end,
    so that every pixel is covered. A side shorter than the patch gets no position."""
    if length < patch_size:
        return []
    positions = list(range(0, length - patch_size + 1, stride))
    if positions[-1] != length - patch_size:
        positions.append(length - patch_size)
    return positions


def class_thresholds(scores: np.ndarray, num_classes: int) -> np.ndarray:
    """Eq. 7: ``t_k = sorted(s)[floor(k N / K)]`` for ``k = 1 .. K-1``."""
    if num_classes < 2:
        raise ValueError(f'num_classes must be at least 2, got {num_classes}.')
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    if ordered.size < num_classes:
        raise ValueError(f'{ordered.size} scores cannot define {num_classes} classes.')
    indices = (np.arange(1, num_classes) * ordered.size) // num_classes
    return ordered[indices]


def assign_classes(scores: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Class of each score: the number of thresholds ``<= s`` (0 = flattest, K-1 = hardest)."""
    return np.searchsorted(np.asarray(thresholds), np.asarray(scores), side='right')
