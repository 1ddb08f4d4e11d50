"""BSPA (Luo et al., NeurIPS 2023): inverse-frequency batches, then protect what they taught.

The data side is here; the model side (parameter attribution and protection) is
:mod:`wbsr_basicsr.training.parameter_protection`, which
:mod:`wbsr_basicsr.training.sampler_hooks` registers for it.
"""
from dataclasses import dataclass

import numpy as np

from .base import NOT_A_CANDIDATE, PatchSampler, register_sampler
from .hes_sampler import draw_by_class
from .measures import measure_candidates


@dataclass(frozen=True)
class BSPAOptions:
    """Every cycle trains ``interval`` iterations on uniform crops, then ``inverse_iters`` on
    inverse-frequency batches; the model then attributes and protects (parameter_protection.py)."""

    group_width: float = 0.05  # LR standard deviation per group
    num_groups: int = 10  # the last group takes every std beyond (num_groups - 1) * group_width
    interval: int = 50000
    inverse_iters: int = 2500
    steps: int = 100  # integration steps of the attribution (FAIG)
    attribution_batches: int = 10  # uniform batches the attribution is measured on, the latest before the phase
    protect: float = 0.1  # share of the weights protected at the end of training; linear in the iteration

    def __post_init__(self) -> None:
        for name in ('num_groups', 'interval', 'inverse_iters', 'steps', 'attribution_batches'):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive integer, got {value!r}.')
        if not self.group_width > 0:
            raise ValueError(f'group_width must be positive, got {self.group_width!r}.')
        if not 0 <= self.protect <= 1:
            raise ValueError(f'protect must lie in [0, 1], got {self.protect!r}.')

    def cycle_position(self, iteration: int) -> int:
        """0 .. interval + inverse_iters - 1 for BasicSR's 1-based ``iteration``."""
        return (iteration - 1) % (self.interval + self.inverse_iters)

    def inverse(self, iteration: int) -> bool:
        return self.cycle_position(iteration) >= self.interval


@register_sampler
class BSPA(PatchSampler):
    """Uniform crops, except in the inverse phases: a group of LR standard deviation with
    probability proportional to ``N_max / N_k`` per member, i.e. every non-empty group equally,
    then a member uniformly (docs/paper_reading.md)."""

    type = 'BSPA'
    Options = BSPAOptions
    needs_model = True

    def __init__(self, options: BSPAOptions, candidates, pairs) -> None:
        super().__init__(options, candidates, pairs)
        std = measure_candidates(candidates, pairs).lr_std
        self.group = np.minimum((std / options.group_width).astype(np.int64), options.num_groups - 1)
        self.members = [np.flatnonzero(self.group == k) for k in range(options.num_groups)]
        # Member weight N_max / N_k gives every non-empty group the same mass.
        mass = np.array([len(m) > 0 for m in self.members], dtype=np.float64)
        self.group_probabilities = mass / mass.sum()

    def draw(self, rng: np.random.Generator, iteration: int, count: int) -> np.ndarray:
        if not self.options.inverse(iteration):
            return np.full(count, NOT_A_CANDIDATE, dtype=np.int64)
        return draw_by_class(rng, self.members, self.group_probabilities, count)
