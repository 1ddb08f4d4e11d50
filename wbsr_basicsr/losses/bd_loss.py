"""Balanced Diversity Loss, BDLoss (paper Sec. 4.1.2, Eq. 10-14 and 21).

Per element, with the prior ``p_train = sum_i phi_i N(mu_i, v_i)`` (Eq. 12) and a noise
distribution ``q`` around the prediction, Eq. 11 reads

    L = -log q(y | yhat) + log integral q(y' | yhat) p_train(y') dy'

(``d`` maps pixels to the prior's space, see :mod:`.bdloss_prior`). Two likelihoods:

- ``laplace`` (default): ``q = Laplace(yhat, b)``, "the probability form of L1" of Eq. 2. The
  balancing integral has a closed form per component, and its log is ``1/b``-Lipschitz in
  ``yhat``, so the per-pixel minimum stays exactly at the target: the loss re-weights errors,
  it does not move the answer. The reduced loss is multiplied by a detached ``b``, so it is
  ``|yhat - y| + b log p~(yhat)`` plus a constant: L1 plus the balancing term.
- ``gaussian``: ``q = N(yhat, sigma^2)`` with Eq. 14's closed form, Balanced MSE's GAI loss,
  scaled by a detached ``2 sigma^2``. Its minimum sits at ``yhat - y = sigma^2 d/dyhat log
  p~(yhat)``, off the target; measured on real photos it trains 0.5-1.3 dB below L1.

docs/bdloss.md derives both and gives the measurements. Eq. 10's ``lambda ||theta||^2`` is the
optimizer's ``weight_decay``.
"""
import copy
import inspect
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from basicsr.utils import get_root_logger
from basicsr.utils.registry import LOSS_REGISTRY
from wbsr_basicsr.utils.options import check_keys

from .bdloss_prior import (GaussianMixturePrior, interpolated_log_laplace_mixture_density, load_prior,
                           log_mixture_density, to_space)

REDUCTIONS = ('mean', 'sum', 'none')
LIKELIHOODS = ('laplace', 'gaussian')


@LOSS_REGISTRY.register()
class BDLoss(nn.Module):
    """Balanced Diversity Loss, usable as ``pixel_opt: {type: BDLoss, gmm_file: ...}``.

    Args:
        gmm_file: prior file made by ``datasets_prep/prepare_div2k.py``; or give the mixture
            inline with ``weights``, ``means`` and ``variances`` (lists, weights summing to 1).
        likelihood: ``laplace`` (default, the L1 base) or ``gaussian`` (Balanced MSE's form).
        space: ``intensity`` (default) or ``detail``: where the prior models the targets.
            With the Gaussian likelihood ``detail`` trained a supernet to 1.9 dB below MSE
            (docs/bdloss.md).
        init_sigma: the noise scale (pixel values in [0, 1]): the Laplace scale ``b`` or the
            Gaussian's standard deviation; 0.01 by default, where the balancing term re-weights
            pixels by about 5% and cost no PSNR on real photos (docs/bdloss.md).
        learn_sigma: make the scale learnable (as Balanced MSE does; measured 0.1-0.2 dB below
            L1 with the Laplace form). It learns only in a model that puts
            :meth:`sigma_parameters` in its optimizer (WBSRModel does); elsewhere it stays
            fixed, and the log says so once.
        sigma_range: sigma is clamped to this range.
        loss_weight: multiplies the loss.
        reduction: ``mean``, ``sum`` or ``none``.
    """

    def __init__(self,
                 gmm_file: Optional[str] = None,
                 weights: Optional[Sequence[float]] = None,
                 means: Optional[Sequence[float]] = None,
                 variances: Optional[Sequence[float]] = None,
                 likelihood: str = 'laplace',
                 space: str = 'intensity',
                 init_sigma: float = 0.01,
                 learn_sigma: bool = False,
                 sigma_range: Tuple[float, float] = (1e-3, 1.0),
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 **unknown) -> None:
        super().__init__()
        check_keys('BDLoss', unknown, [name for name in inspect.signature(BDLoss).parameters if name != 'unknown'])
        if reduction not in REDUCTIONS:
            raise ValueError(f'BDLoss reduction must be one of {REDUCTIONS}, got {reduction!r}.')
        if likelihood not in LIKELIHOODS:
            raise ValueError(f'BDLoss likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.')
        low, high = sigma_range
        if not 0 < low < high:
            raise ValueError(f'BDLoss sigma_range must satisfy 0 < low < high, got {tuple(sigma_range)}.')
        if not low <= init_sigma <= high:
            raise ValueError(f'BDLoss init_sigma={init_sigma} is outside sigma_range={tuple(sigma_range)}.')
        self.prior = _build_prior(gmm_file, weights, means, variances, space)
        for name, tensor in self.prior.as_tensors(torch.float32).items():
            self.register_buffer(name, tensor)
        self.space = space
        self.likelihood = likelihood
        self.learn_sigma = learn_sigma
        self.log_sigma_range = (math.log(low), math.log(high))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(init_sigma)), requires_grad=learn_sigma)
        self.loss_weight = loss_weight
        self.reduction = reduction
        self._sigma_optimized = False
        self._fixed_sigma_noted = False

    @property
    def sigma(self) -> Tensor:
        """The current noise scale, clamped to ``sigma_range``."""
        return self.log_sigma.clamp(*self.log_sigma_range).exp()

    def sigma_parameters(self) -> List[nn.Parameter]:
        """The parameters a model must optimize (its own group) for sigma to learn."""
        self._sigma_optimized = self.learn_sigma
        return [self.log_sigma] if self.learn_sigma else []

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None) -> Tensor:
        """BDLoss of ``pred`` against ``target`` (both ``N x C x H x W``), optionally weighted.

        Computed in float32 (or float64 for float64 inputs), also under ``torch.autocast``.
        """
        self._note_fixed_sigma()
        with torch.autocast(device_type=pred.device.type, enabled=False):
            loss = self.elementwise_nll(pred, target)
            if weight is not None:
                loss = loss * weight
            if self.reduction == 'mean':
                loss = loss.mean()
            elif self.reduction == 'sum':
                loss = loss.sum()
            return self.loss_weight * loss * self.scale_factor().to(loss.dtype)

    def scale_factor(self) -> Tensor:
        """The detached factor that gives the reduced loss L1's (``b``) or MSE's (``2 sigma^2``) scale."""
        sigma = self.sigma.detach()
        return sigma if self.likelihood == 'laplace' else 2 * sigma**2

    def elementwise_nll(self, pred: Tensor, target: Tensor) -> Tensor:
        """Unscaled BDLoss per element (:func:`bdloss_elementwise` with this loss's prior and sigma)."""
        dtype = torch.promote_types(pred.dtype, torch.float32)
        prior = (self.log_weights.to(dtype), self.means.to(dtype), self.variances.to(dtype))
        if self.likelihood == 'laplace':
            return laplace_bdloss_elementwise(pred.to(dtype), target.to(dtype), self.sigma.to(dtype), self.space,
                                              *prior)
        return bdloss_elementwise(pred.to(dtype), target.to(dtype), self.sigma.to(dtype)**2, self.space, *prior)

    def _note_fixed_sigma(self) -> None:
        if self.learn_sigma and self.training and not self._sigma_optimized and not self._fixed_sigma_noted:
            self._fixed_sigma_noted = True
            get_root_logger().warning(
                f'BDLoss: learn_sigma is set, but this model does not optimize sigma; it stays fixed at '
                f'{self.sigma.item():.4g}. WBSRModel learns it.')


def bdloss_elementwise(pred: Tensor, target: Tensor, noise_variance: Tensor, space: str, log_weights: Tensor,
                       means: Tensor, variances: Tensor) -> Tensor:
    """``-log p_train(y | x)`` per element, up to the constant ``-log p_train(y)`` (Eq. 11, 14):
    the Gaussian NLL of ``target`` around ``pred`` plus the balancing term on ``d(pred)``."""
    nll = (pred - target)**2 / (2 * noise_variance) + 0.5 * torch.log(2 * math.pi * noise_variance)
    return nll + log_mixture_density(to_space(pred, space), log_weights, means, variances, noise_variance)


def laplace_bdloss_elementwise(pred: Tensor, target: Tensor, scale: Tensor, space: str, log_weights: Tensor,
                               means: Tensor, variances: Tensor) -> Tensor:
    """Eq. 11 with the Laplace likelihood ``Laplace(y; yhat, b)``: the NLL ``|y - yhat| / b + log 2b``
    plus the balancing term on ``d(pred)``, the prior smoothed by the same Laplace kernel."""
    nll = (pred - target).abs() / scale + torch.log(2 * scale)
    return nll + interpolated_log_laplace_mixture_density(to_space(pred, space), log_weights, means, variances,
                                                          scale)


def per_pixel_optimum(loss: BDLoss, levels: int = 256, step: float = 0.05) -> np.ndarray:
    """For each target grey level ``0 .. levels - 1``, the prediction (in grey levels) that minimises
    ``loss`` per element: a search on a grid of ``step`` grey levels over [-0.5, 1.5] (``intensity``
    space: there the loss of a pixel depends on that pixel alone)."""
    if loss.space != 'intensity':
        raise ValueError(f'per_pixel_optimum needs an intensity-space BDLoss, got space {loss.space!r}.')
    top = levels - 1
    grid = torch.arange(-0.5 * top, 1.5 * top + step / 2, step, dtype=torch.float64) / top
    targets = torch.arange(levels, dtype=torch.float64) / top
    with torch.no_grad():
        predictions, targets = grid.expand(levels, -1), targets[:, None].expand(-1, len(grid))
        values = copy.deepcopy(loss).double().elementwise_nll(predictions, targets)
    return grid[values.argmin(dim=1)].numpy() * top


def _build_prior(gmm_file: Optional[str], weights, means, variances, space: str) -> GaussianMixturePrior:
    inline = (weights, means, variances)
    if gmm_file is not None and any(v is not None for v in inline):
        raise ValueError('BDLoss takes either gmm_file or inline weights/means/variances, not both.')
    if gmm_file is not None:
        return load_prior(gmm_file, space)
    if any(v is None for v in inline):
        raise ValueError('BDLoss needs a prior: gmm_file, or all of weights, means and variances.')
    try:
        return GaussianMixturePrior(weights, means, variances, space)
    except ValueError as error:
        raise ValueError(f'BDLoss prior: {error}') from None
