"""Hierarchical Equalization Sampling's class level (paper Eq. 8)."""
from dataclasses import dataclass

import numpy as np

from .base import PatchSampler, register_sampler


@dataclass(frozen=True)
class Eq8Options:
    """The HES sampler's options (the dataset's ``hes:`` block is ``HESOptions``)."""

    delta: float = 0.9

    def __post_init__(self) -> None:
        if not 0 < self.delta < 1:
            raise ValueError(f'delta must lie in (0, 1), got {self.delta!r}.')


def class_level_probabilities(class_counts: np.ndarray, delta: float) -> np.ndarray:
    """Eq. 8's class masses: ``sum_{i in k} 1 / (N_k delta^k)`` = ``delta^-k`` over non-empty classes."""
    mass = np.where(class_counts > 0, delta**-np.arange(len(class_counts), dtype=np.float64), 0.)
    return mass / mass.sum()


def draw_by_class(rng: np.random.Generator, members: list, probabilities: np.ndarray, count: int) -> np.ndarray:
    """``count`` ids: a class by ``probabilities``, then one of its ``members`` uniformly."""
    classes = rng.choice(len(members), size=count, p=probabilities)
    picks = rng.random(count)
    drawn = np.empty(count, dtype=np.int64)
    for k, in_class in enumerate(members):
        chosen = classes == k
        drawn[chosen] = in_class[(picks[chosen] * len(in_class)).astype(np.int64)]
    return drawn


@register_sampler
class HES(PatchSampler):
    """Candidate ``i`` of Eq. 7 class ``k`` with probability ``1 / (N_k delta^k)``, normalised: class
    ``k`` holds mass ``delta^-k`` (docs/paper_reading.md), its members equally likely."""

    type = 'HES'
    Options = Eq8Options
    default_start_frac = 0.7

    def __init__(self, options: Eq8Options, candidates, pairs) -> None:
        super().__init__(options, candidates, pairs)
        self.members = [np.flatnonzero(candidates.eq7_class == k) for k in range(candidates.num_classes)]
        self.class_probabilities = class_level_probabilities(np.array([len(m) for m in self.members]), options.delta)

    def draw(self, rng: np.random.Generator, iteration: int, count: int) -> np.ndarray:
        return draw_by_class(rng, self.members, self.class_probabilities, count)
