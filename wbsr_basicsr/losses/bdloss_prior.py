"""The training-target prior of BDLoss: a 1-D Gaussian mixture p_train (paper Eq. 12).

A prior is fitted offline on training HR values (``datasets_prep/``) with scikit-learn's
``GaussianMixture``, in one of two spaces (docs/bdloss.md):

- ``detail``: a pixel minus the mean of its 2 x 2 block (:func:`detail`). Flat areas fall in
  a sharp peak at 0, edges and texture in the tails. The block mean is an orthogonal
  projection, so the squared error splits exactly into a block-mean part and a detail part.
- ``intensity``: raw pixel values in [0, 1].

The prior file is JSON: ``{"format": "wbsr-bdloss-prior", "version": 1, "spaces": {space:
{"weights": [...], "means": [...], "variances": [...]}, ...}, ...}``.
"""
import json
import math
import os
from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.utils.atomic import write_json

PRIOR_FORMAT = 'wbsr-bdloss-prior'
PRIOR_VERSION = 1
SPACES = ('detail', 'intensity')
WEIGHT_SUM_TOLERANCE = 1e-4


def detail(images: Tensor) -> Tensor:
    """Each pixel minus the mean of its 2 x 2 block (border blocks: their valid pixels).

    ``images`` is ``(..., H, W)``; the block mean is an idempotent linear projection.
    """
    height, width = images.shape[-2:]
    flat = images.reshape(-1, 1, height, width)
    block_mean = F.avg_pool2d(flat, 2, ceil_mode=True)
    block_mean = block_mean.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :height, :width]
    return (flat - block_mean).reshape(images.shape)


def to_space(images: Tensor, space: str) -> Tensor:
    """Map images in [0, 1] to the prior's space: ``detail`` or ``intensity`` (unchanged)."""
    if space == 'detail':
        return detail(images)
    if space == 'intensity':
        return images
    raise ValueError(f'Unknown prior space {space!r}; choose one of {SPACES}.')


@dataclass(frozen=True)
class GaussianMixturePrior:
    """A 1-D Gaussian mixture ``sum_i weights_i N(means_i, variances_i)`` in ``space``."""

    weights: Sequence[float]
    means: Sequence[float]
    variances: Sequence[float]
    space: str = 'detail'

    def __post_init__(self) -> None:
        weights, means, variances = (np.asarray(v, dtype=np.float64) for v in (self.weights, self.means,
                                                                                 self.variances))
        if weights.ndim != 1 or weights.size == 0 or not weights.shape == means.shape == variances.shape:
            raise ValueError('weights, means and variances must be equally long, non-empty 1-D lists; got '
                             f'lengths {weights.size}, {means.size}, {variances.size}.')
        if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(means)) and np.all(np.isfinite(variances))):
            raise ValueError('weights, means and variances must be finite.')
        if np.any(weights < 0) or abs(weights.sum() - 1) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(f'weights must be non-negative and sum to 1; they sum to {weights.sum():.6g}.')
        if np.any(variances <= 0):
            raise ValueError(f'variances must be positive; got {variances.tolist()}.')
        if self.space not in SPACES:
            raise ValueError(f'Unknown prior space {self.space!r}; choose one of {SPACES}.')

    def as_tensors(self, dtype: torch.dtype = torch.float64) -> Dict[str, Tensor]:
        """``log_weights``, ``means`` and ``variances`` as 1-D tensors (zero weights dropped)."""
        weights = torch.tensor(self.weights, dtype=dtype)
        keep = weights > 0
        return dict(log_weights=weights[keep].log(), means=torch.tensor(self.means, dtype=dtype)[keep],
                    variances=torch.tensor(self.variances, dtype=dtype)[keep])


def fit_prior(values: np.ndarray, space: str, num_components: int = 8, seed: int = 0) -> GaussianMixturePrior:
    """Fit a ``num_components`` mixture to 1-D ``values`` (already in ``space``) with scikit-learn."""
    from sklearn.mixture import GaussianMixture

    mixture = GaussianMixture(n_components=num_components, covariance_type='full', random_state=seed)
    mixture.fit(np.asarray(values, dtype=np.float64).reshape(-1, 1))
    weights = mixture.weights_ / mixture.weights_.sum()
    return GaussianMixturePrior(weights.tolist(), mixture.means_.ravel().tolist(),
                                mixture.covariances_.ravel().tolist(), space)


def save_priors(priors: Sequence[GaussianMixturePrior], path: str, **metadata) -> None:
    """Write ``priors`` (one per space) to a JSON prior file, atomically."""
    document = dict(format=PRIOR_FORMAT, version=PRIOR_VERSION, **metadata,
                    spaces={p.space: dict(weights=list(p.weights), means=list(p.means),
                                          variances=list(p.variances)) for p in priors})
    write_json(path, document)


def load_prior(path: str, space: str) -> GaussianMixturePrior:
    """Read the ``space`` mixture from a prior file; any problem raises ``ValueError`` naming the file."""
    if not os.path.isfile(path):
        raise ValueError(f'BDLoss prior file {path} does not exist (make it with datasets_prep/prepare_div2k.py).')
    try:
        with open(path, encoding='utf-8') as handle:
            document = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f'BDLoss prior file {path} is not a JSON prior file: {error}.') from None
    if not isinstance(document, dict) or document.get('format') != PRIOR_FORMAT:
        raise ValueError(f'BDLoss prior file {path} is not a {PRIOR_FORMAT!r} file.')
    if document.get('version') != PRIOR_VERSION:
        raise ValueError(f"BDLoss prior file {path} has version {document.get('version')!r}; "
                         f'this code reads version {PRIOR_VERSION}.')
    spaces = document.get('spaces') or {}
    if space not in spaces:
        raise ValueError(f'BDLoss prior file {path} has no {space!r} mixture (it has {sorted(spaces)}).')
    entry = spaces[space]
    try:
        return GaussianMixturePrior(entry['weights'], entry['means'], entry['variances'], space)
    except (KeyError, TypeError) as error:
        raise ValueError(f'BDLoss prior file {path}: the {space!r} mixture is malformed ({error!r}).') from None
    except ValueError as error:
        raise ValueError(f'BDLoss prior file {path}: {error}') from None


def log_mixture_density(values: Tensor, log_weights: Tensor, means: Tensor, variances: Tensor,
                        noise_variance: Tensor) -> Tensor:
    """``log sum_i phi_i N(values; mu_i, v_i + sigma^2)`` per element: Eq. 14's balancing term.

    This is the closed form of ``log integral N(y'; values, sigma^2) p_train(y') dy'`` (Eq. 13, 20).
    """
    total_variance = variances + noise_variance  # (L,): per-component work first, then one pass per element
    log_normalisers = log_weights - 0.5 * torch.log(2 * math.pi * total_variance)
    log_terms = log_normalisers - (values.unsqueeze(-1) - means).square() * (0.5 / total_variance)
    return torch.logsumexp(log_terms, dim=-1)


def log_laplace_mixture_density(values: Tensor, log_weights: Tensor, means: Tensor, variances: Tensor,
                                scale: Tensor) -> Tensor:
    """``log integral Laplace(y'; values, b) p_train(y') dy'`` per element, ``b = scale``.

    Eq. 13 with the Laplace likelihood of L1 in place of the Gaussian (docs/bdloss.md). Each
    component's convolution ``N(mu, v) * Laplace(b)`` at ``d = value - mu`` is, in closed form,
    ``exp(-d^2 / 2v) / 4b * [erfcx((v/b - d) / sqrt(2v)) + erfcx((v/b + d) / sqrt(2v))]``.
    """
    std = variances.sqrt()
    offset = values.unsqueeze(-1) - means
    ratio = variances / scale
    lower = _log_erfcx((ratio - offset) / (std * math.sqrt(2)))
    upper = _log_erfcx((ratio + offset) / (std * math.sqrt(2)))
    log_terms = log_weights - torch.log(4 * scale) - offset.square() / (2 * variances) + torch.logaddexp(lower, upper)
    return torch.logsumexp(log_terms, dim=-1)


TABLE_START, TABLE_STOP, TABLE_INTERVALS = -1.0, 2.0, 8192
"""The grid on which :func:`interpolated_log_laplace_mixture_density` tabulates the balancing term."""


def interpolated_log_laplace_mixture_density(values: Tensor, log_weights: Tensor, means: Tensor,
                                             variances: Tensor, scale: Tensor) -> Tensor:
    """:func:`log_laplace_mixture_density`, tabulated on ``TABLE_INTERVALS`` intervals over
    [``TABLE_START``, ``TABLE_STOP``] and interpolated linearly (extrapolated beyond).

    The term depends on a pixel only through one number, so one table per forward replaces
    per-pixel special functions (about 30 x cheaper on the CPU). It is exact at the nodes, its
    gradients reach ``scale`` through the table, and each segment's slope is a difference quotient
    of the exact term, so it keeps the exact term's ``1/b`` bound on the slope (docs/bdloss.md).
    """
    step = (TABLE_STOP - TABLE_START) / TABLE_INTERVALS
    nodes = TABLE_START + step * torch.arange(TABLE_INTERVALS + 1, dtype=values.dtype, device=values.device)
    table = log_laplace_mixture_density(nodes, log_weights, means, variances, scale)
    position = (values - TABLE_START) / step
    index = position.detach().floor().clamp(0, TABLE_INTERVALS - 1).long()
    left, right = table[index], table[index + 1]
    return left + (position - index) * (right - left)


def _log_erfcx(x: Tensor) -> Tensor:
    """``log(exp(x^2) erfc(x))`` without overflow: ``erfcx`` for x >= 0, ``x^2 + log erfc(x)`` below.

    Each branch sees an argument clamped to its side, so neither produces inf or nan gradients.
    """
    negative = x.clamp(max=0)
    return torch.where(x < 0, negative.square() + torch.log(torch.erfc(negative)),
                       torch.log(torch.special.erfcx(x.clamp(min=0))))
