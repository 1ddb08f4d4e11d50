"""ClassSR's two losses on a classifier's class probabilities ``(B, M)`` (Kong et al., CVPR 2021,
Eq. 2-3), used with its L1 loss to train the "+ClassSR" router (docs/routing.md, "ClassSR").

- :class:`ClassLoss` ``= (M - 1) - sum_{i<j} |p_i - p_j|``, averaged over the batch: zero when
  every patch is sure of one class, so it pushes each patch towards one class;
- :class:`AverageLoss` ``= sum_k |sum_b p_bk - B/M| / (4 B/M)``: zero when the batch's
  probability mass is shared equally by the classes, so it keeps the classifier off a single
  class (the collapse ClassSR's users report).
"""
from torch import Tensor, nn

from basicsr.utils.registry import LOSS_REGISTRY


class _ProbabilityLoss(nn.Module):
    """A weighted loss of class probabilities ``(B, M)``, M >= 2; subclasses define :meth:`unweighted`."""

    def __init__(self, loss_weight: float) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, probabilities: Tensor) -> Tensor:
        if probabilities.dim() != 2 or probabilities.shape[1] < 2:
            raise ValueError(f'ClassSR losses take class probabilities (batch, classes >= 2), got shape '
                             f'{tuple(probabilities.shape)}.')
        return self.loss_weight * self.unweighted(probabilities)

    def unweighted(self, p: Tensor) -> Tensor:
        raise NotImplementedError


@LOSS_REGISTRY.register()
class ClassLoss(_ProbabilityLoss):
    """ClassSR's class loss: each patch's probabilities away from uniform, towards one class."""

    def __init__(self, loss_weight: float = 0.5) -> None:
        super().__init__(loss_weight)

    def unweighted(self, p: Tensor) -> Tensor:
        spread = (p[:, :, None] - p[:, None, :]).abs().sum((1, 2)) / 2  # sum over pairs i < j
        return (p.shape[1] - 1 - spread).mean()


@LOSS_REGISTRY.register()
class AverageLoss(_ProbabilityLoss):
    """ClassSR's average loss: the batch's class shares towards equal."""

    def __init__(self, loss_weight: float = 3.0) -> None:
        super().__init__(loss_weight)

    def unweighted(self, p: Tensor) -> Tensor:
        even = p.shape[0] / p.shape[1]
        return (p.sum(0) - even).abs().sum() / (4 * even)
