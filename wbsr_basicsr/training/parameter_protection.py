"""BSPA's model side: after each inverse phase, attribute the change it made to the weights and
protect the most important ones (Luo et al., NeurIPS 2023; docs/paper_reading.md).

At the first inverse iteration the convolution weights are kept as the baseline ``theta_b``; at the
last one, as the target ``theta_t``. The attribution of weight ``j`` (FAIG) integrates the L1 loss's
gradient on the path between them, on the latest uniform batches before the phase::

    a_j = sum over batches | (1/S) sum_s dL/dtheta_j(theta_t + alpha_s (theta_b - theta_t)) * (theta_b,j - theta_t,j) |

with ``alpha_s = (s + 0.5) / S``, ``S = steps``. The share
``protect * iteration / total_iter`` of the weights with the largest ``a_j`` then keeps its target
value: after every later optimizer step those weights are reset to ``theta_t``, until the next phase.
"""
from collections import deque
from typing import Deque, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from basicsr.utils import get_root_logger


class ParameterProtection:
    """The hook ``HESSRModel`` runs around its optimizer steps for the ``BSPA`` sampler."""

    def __init__(self, options, total_iter: int) -> None:
        self.options = options
        self.total_iter = total_iter
        self.recent: Deque[Tuple[Tensor, Tensor]] = deque(maxlen=options.attribution_batches)
        self.baseline: Optional[Dict[str, Tensor]] = None
        self.target: Dict[str, Tensor] = {}
        self.mask: Dict[str, Tensor] = {}

    def before_step(self, model, iteration: int) -> None:
        if not self.options.inverse(iteration):
            self.recent.append((model.lq.detach(), model.gt.detach()))
        elif self.options.cycle_position(iteration) == self.options.interval:
            self.baseline = _weights(model)

    def after_step(self, model, iteration: int) -> None:
        if self.options.inverse(iteration):
            if self.options.cycle_position(iteration) == self.options.interval + self.options.inverse_iters - 1:
                self._protect(model, iteration)
            return
        with torch.no_grad():
            for name, parameter in _named_weights(model):
                if name in self.mask:
                    parameter[self.mask[name]] = self.target[name][self.mask[name]]

    def _protect(self, model, iteration: int) -> None:
        logger = get_root_logger()
        if self.baseline is None or not self.recent:
            logger.warning(f'BSPA: no baseline or uniform batches for the phase ending at iteration {iteration} '
                           '(resumed inside it); nothing protected until the next one.')
            self.mask = {}
            return
        self.target = _weights(model)
        scores = attribution(model, self.baseline, self.target, list(self.recent), self.options.steps)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for score in scores.values():  # every rank protects the same weights: the sum over all batches
                torch.distributed.all_reduce(score)
        share = self.options.protect * min(1., iteration / self.total_iter)
        self.mask = top_share(scores, share)
        protected = sum(int(m.sum()) for m in self.mask.values())
        logger.info(f'BSPA: inverse phase ended at iteration {iteration}; protecting {protected} of '
                    f'{sum(s.numel() for s in scores.values())} weights ({share:.2%}).')
        self.baseline = None


def _named_weights(model):
    """The convolution weights of the model's network (what BSPA attributes)."""
    network = model.get_bare_model(model.net_g)
    return [(name, p) for name, p in network.named_parameters() if p.dim() == 4 and p.requires_grad]


def _weights(model) -> Dict[str, Tensor]:
    return {name: parameter.detach().clone() for name, parameter in _named_weights(model)}


def attribution(model, baseline: Dict[str, Tensor], target: Dict[str, Tensor], batches: List[Tuple[Tensor, Tensor]],
                steps: int) -> Dict[str, Tensor]:
    """FAIG scores (module docstring) of every convolution weight; the weights end at ``target``."""
    named = _named_weights(model)
    parameters = [parameter for _, parameter in named]
    network = model.get_bare_model(model.net_g)
    scores = {name: torch.zeros_like(parameter) for name, parameter in named}
    try:
        for lq, gt in batches:
            integral = {name: torch.zeros_like(parameter) for name, parameter in named}
            for step in range(steps):
                alpha = (step + 0.5) / steps
                with torch.no_grad():
                    for name, parameter in named:
                        parameter.copy_(target[name] + alpha * (baseline[name] - target[name]))
                gradients = torch.autograd.grad(F.l1_loss(network(lq), gt), parameters)
                for (name, _), gradient in zip(named, gradients):
                    integral[name] += gradient / steps
            for name in scores:
                scores[name] += (integral[name] * (baseline[name] - target[name])).abs()
    finally:
        with torch.no_grad():
            for name, parameter in named:
                parameter.copy_(target[name])
    return scores


def top_share(scores: Dict[str, Tensor], share: float) -> Dict[str, Tensor]:
    """Masks of the ``share`` of all scored weights with the largest scores (ties by order)."""
    flat = torch.cat([score.flatten() for score in scores.values()])
    count = int(share * flat.numel())
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if count:
        chosen[torch.topk(flat, count).indices] = True
    masks, start = {}, 0
    for name, score in scores.items():
        masks[name] = chosen[start:start + score.numel()].view_as(score)
        start += score.numel()
    return masks
