"""DDA (Zhang et al., IJCNN 2023): difficulty classes drawn by their training loss, patches re-weighted."""
import functools
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from wbsr_basicsr.utils.gradient_stats import assign_classes, class_thresholds

from .base import NOT_A_CANDIDATE, PatchSampler, register_sampler
from .hes_sampler import draw_by_class
from .measures import measure_candidates


@dataclass(frozen=True)
class DDAOptions:
    num_classes: int = 10  # difficulty classes (quantiles of the interpolation error)
    momentum: float = 0.9  # of the running losses
    max_weight: float = 2.0  # per-patch loss weights are clipped to [1 / max_weight, max_weight]; 1 turns them off

    def __post_init__(self) -> None:
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f'num_classes must be an integer of at least 2, got {self.num_classes!r}.')
        if not 0 <= self.momentum < 1:
            raise ValueError(f'momentum must lie in [0, 1), got {self.momentum!r}.')
        if self.max_weight < 1:
            raise ValueError(f'max_weight must be at least 1, got {self.max_weight!r}.')


@register_sampler
class DDA(PatchSampler):
    """Divider: the candidates (overlapping patches) in ``num_classes`` quantile classes of their
    bilinear-interpolation error. Sampler: class ``k`` with probability proportional to its running
    mean training loss ``L_k`` (uniform until losses arrive), a member uniformly. Re-weighter: each
    patch's loss weighted by its own running loss over ``L_k`` (docs/paper_reading.md)."""

    type = 'DDA'
    Options = DDAOptions
    needs_model = True

    def __init__(self, options: DDAOptions, candidates, pairs) -> None:
        super().__init__(options, candidates, pairs)
        difficulty = -measure_candidates(candidates, pairs).interpolation_psnr
        self.difficulty_class = assign_classes(difficulty, class_thresholds(difficulty, options.num_classes))
        self.members = [np.flatnonzero(self.difficulty_class == k) for k in range(options.num_classes)]
        self.class_loss = np.full(options.num_classes, np.nan)
        self.patch_loss = np.full(len(candidates), np.nan)

    def class_probabilities(self) -> np.ndarray:
        """``L_k`` normalised over non-empty classes; a class without a loss yet gets the mean of the others."""
        known = self.class_loss[~np.isnan(self.class_loss)]
        mass = np.where(np.isnan(self.class_loss), known.mean() if len(known) else 1., self.class_loss)
        mass = np.where([len(m) > 0 for m in self.members], mass, 0.)
        return mass / mass.sum()

    def draw(self, rng: np.random.Generator, iteration: int, count: int) -> np.ndarray:
        return draw_by_class(rng, self.members, self.class_probabilities(), count)

    def weights(self, drawn: np.ndarray) -> np.ndarray:
        """Per-patch loss weights: running patch loss / its class's, clipped; 1 without both."""
        weights = np.ones(len(drawn))
        ids = drawn[drawn != NOT_A_CANDIDATE]
        ratio = self.patch_loss[ids] / self.class_loss[self.difficulty_class[ids]]
        weights[drawn != NOT_A_CANDIDATE] = np.where(np.isnan(ratio), 1., ratio)
        return np.clip(weights, 1 / self.options.max_weight, self.options.max_weight)

    def batch_fields(self, drawn: np.ndarray) -> Dict[str, object]:
        return {'sample_weight': torch.from_numpy(self.weights(drawn).astype(np.float32)),
                'sample_feedback': functools.partial(self.feedback, drawn)}

    def feedback(self, drawn: np.ndarray, losses: np.ndarray) -> None:
        """The training losses of the patches ``drawn``: update the running patch and class losses."""
        keep = drawn != NOT_A_CANDIDATE
        ids, losses = drawn[keep], np.asarray(losses, dtype=np.float64)[keep]
        self.patch_loss[ids] = ema(self.patch_loss[ids], losses, self.options.momentum)
        for k in np.unique(self.difficulty_class[ids]):
            in_class = self.difficulty_class[ids] == k
            self.class_loss[k] = ema(self.class_loss[k], losses[in_class].mean(), self.options.momentum)


def ema(old, new, momentum: float):
    """Exponential moving average; a NaN (no value yet) takes ``new`` as it is."""
    return np.where(np.isnan(old), new, momentum * np.nan_to_num(old) + (1 - momentum) * new)
