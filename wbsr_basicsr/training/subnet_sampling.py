"""Which subnets of the supernet one training iteration trains (paper Sec. 4.1).

``train.subnet_sampling`` in the options:

- ``sandwich`` (default): the full network, the smallest subnet and ``num_random`` other
  subnets drawn at random, each on the whole batch, losses summed;
- ``random``: one subnet drawn at random;
- ``all``: every subnet;
- ``matched``: the full network on the whole batch, and each patch also through the subnet
  that its HES class routes it to at test time (Eq. 15), each subnet's loss weighted by its
  share of the batch: "each subnet handles patches of its complexity".

Random draws depend only on ``(seed, iteration)``, so every distributed rank trains the same
subnets and a resumed run continues the same schedule.
"""
from dataclasses import dataclass, fields
from typing import List, Mapping, Optional, Tuple

import numpy as np

from wbsr_basicsr.routing.gradient_router import route_ceil
from wbsr_basicsr.utils.options import check_keys

STRATEGIES = ('sandwich', 'random', 'all', 'matched')

TrainingStep = Tuple[int, Optional[np.ndarray], float]
"""One forward of a training iteration: subnet index, batch rows (``None``: all), loss weight."""


@dataclass(frozen=True)
class SubnetSampling:
    strategy: str = 'sandwich'
    num_random: int = 1

    @classmethod
    def from_options(cls, options: Mapping) -> 'SubnetSampling':
        """From the ``train.subnet_sampling`` block; an unknown key is an error."""
        check_keys('train.subnet_sampling', options, [field.name for field in fields(cls)])
        return cls(**options)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f'train.subnet_sampling.strategy must be one of {STRATEGIES}, got {self.strategy!r}.')
        if not isinstance(self.num_random, int) or self.num_random < 0:
            raise ValueError(f'train.subnet_sampling.num_random must be a non-negative integer, got '
                             f'{self.num_random!r}.')

    def plan(self, iteration: int, seed: int, num_subnets: int, classes: Optional[np.ndarray] = None,
             num_classes: Optional[int] = None) -> List[TrainingStep]:
        """The forwards of ``iteration`` over subnets ``0 .. num_subnets - 1`` (ordered by cost).

        ``matched`` needs the batch's HES ``classes`` (0-based) and ``num_classes``.
        """
        full = num_subnets - 1
        if self.strategy == 'all':
            return [(index, None, 1.0) for index in range(num_subnets)]
        rng = np.random.default_rng([seed, iteration])
        if self.strategy == 'random':
            return [(int(rng.integers(num_subnets)), None, 1.0)]
        if self.strategy == 'sandwich':
            middle = np.arange(1, full)
            drawn = rng.choice(middle, size=min(self.num_random, len(middle)), replace=False).tolist()
            return [(index, None, 1.0) for index in sorted({0, full, *drawn})]
        if classes is None or num_classes is None:
            raise ValueError('subnet_sampling strategy "matched" needs HES classes in the batch: train on '
                             'HESPairedImageDataset.')
        routed = route_ceil(np.asarray(classes), num_classes, num_subnets)
        steps: List[TrainingStep] = [(full, None, 1.0)]
        for index in np.unique(routed):
            if index != full:
                rows = np.flatnonzero(routed == index)
                steps.append((int(index), rows, len(rows) / len(routed)))
        return steps
