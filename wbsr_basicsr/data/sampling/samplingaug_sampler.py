"""SamplingAug (Wang et al., arXiv 2111.15185): train on the patches bilinear upscaling restores worst."""
from dataclasses import dataclass

import numpy as np

from .base import PatchSampler, register_sampler
from .measures import measure_candidates


@dataclass(frozen=True)
class SamplingAugOptions:
    portion: float = 0.1  # share of each image's candidates kept, the lowest interpolation PSNR first

    def __post_init__(self) -> None:
        if not 0 < self.portion <= 1:
            raise ValueError(f'portion must lie in (0, 1], got {self.portion!r}.')


@register_sampler
class SamplingAug(PatchSampler):
    """An image uniformly, then one of its ``ceil(portion n_i)`` candidates of lowest PSNR between
    the GT patch and the bilinearly upscaled LR patch, uniformly (docs/paper_reading.md)."""

    type = 'SamplingAug'
    Options = SamplingAugOptions

    def __init__(self, options: SamplingAugOptions, candidates, pairs) -> None:
        super().__init__(options, candidates, pairs)
        self.psnr = measure_candidates(candidates, pairs).interpolation_psnr
        # Per image with candidates: the ids it draws from, hardest first.
        self.kept = [ids[np.argsort(self.psnr[ids], kind='stable')][:int(np.ceil(options.portion * len(ids)))]
                     for _, ids in candidates.by_image()]

    def draw(self, rng: np.random.Generator, iteration: int, count: int) -> np.ndarray:
        images = rng.integers(len(self.kept), size=count)
        return np.array([self.kept[i][rng.integers(len(self.kept[i]))] for i in images], dtype=np.int64)
