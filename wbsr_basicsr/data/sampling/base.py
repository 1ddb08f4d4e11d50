"""The patch-sampler interface: one class per ``sampler.type``, found in :data:`SAMPLER_REGISTRY`.

A patch sampler decides which training patch each position of a batch gets, once the dataset's
class-level phase has begun: a candidate of the dataset's grid (an LR patch of one sub-image, see
:class:`Candidates`), or ``-1`` for the uniform crop BasicSR's ``PairedImageDataset`` would take.
HES (Eq. 8) is one; the other methods of the paper's Table 3 are the others.

A sampler may also take part in training (``needs_model``): :meth:`PatchSampler.batch_fields` adds
per-patch fields to a batch (a loss weight, a feedback hook; computed in the main process), and
:mod:`wbsr_basicsr.training.sampler_hooks` may hold a hook for its type that the model runs
around each optimizer step; ``HESSRModel`` supports both.

A new sampler is one file ``data/sampling/<name>_sampler.py`` holding a subclass decorated with
:func:`register_sampler`, with its options as a frozen dataclass ``Options``; docs/training.md
("Table 3 samplers") lists the ones there are.
"""
from dataclasses import dataclass, fields
from typing import Callable, ClassVar, Dict, Iterator, Tuple, Type

import numpy as np
from torch import Tensor

from wbsr_basicsr.utils.options import check_keys

NOT_A_CANDIDATE = -1
"""What :meth:`PatchSampler.draw` returns for a position that takes BasicSR's uniform crop."""


@dataclass(frozen=True)
class Candidates:
    """The candidate LR patches of a dataset: a grid over every sub-image, with their Eq. 7 classes."""

    image: np.ndarray  # (N,) the dataset's image index of each candidate
    corner: np.ndarray  # (N, 2) top, left in LR pixels
    eq7_class: np.ndarray  # (N,) Eq. 7 class of the candidate's gradient score
    num_classes: int
    patch_size: int  # LR pixels
    scale: int

    def __len__(self) -> int:
        return len(self.image)

    def by_image(self) -> Iterator[Tuple[int, np.ndarray]]:
        """``(image, its candidate ids)`` for every image that has candidates, in one sort."""
        order = np.argsort(self.image, kind='stable')
        images, starts = np.unique(self.image[order], return_index=True)
        return zip(images.tolist(), np.split(order, starts[1:]))


ImagePairs = Callable[[], Iterator[Tuple[int, Tensor, Tensor]]]
"""Yields ``(image index, LR (3, h, w), GT (3, h s, w s))`` RGB in [0, 1] for every image once."""


class PatchSampler:
    """One way of choosing training patches among :class:`Candidates`; its options are ``Options``."""

    type: ClassVar[str] = ''
    Options: ClassVar[Type]
    default_start_frac: ClassVar[float] = 0.0
    """Share of ``train.total_iter`` drawn as uniform crops before the sampler takes over, unless the
    ``hes:`` block sets ``start_frac`` / ``start_iter``."""
    needs_model: ClassVar[bool] = False
    """Whether training needs the model's part (batch fields it reads, a training hook)."""

    def __init__(self, options, candidates: Candidates, pairs: ImagePairs) -> None:
        self.options = options
        self.candidates = candidates

    def draw(self, rng: np.random.Generator, iteration: int, count: int) -> np.ndarray:
        """The ``count`` patches of one batch of ``iteration``: candidate ids or :data:`NOT_A_CANDIDATE`."""
        raise NotImplementedError

    def batch_fields(self, drawn: np.ndarray) -> Dict[str, object]:
        """Extra fields of the batch whose patches were ``drawn`` (candidate ids, ``-1`` for crops)."""
        return {}

    def describe(self) -> str:
        """One line for the training log."""
        return f'{self.type} {self.options}'


SAMPLER_REGISTRY: Dict[str, Type[PatchSampler]] = {}


def register_sampler(cls: Type[PatchSampler]) -> Type[PatchSampler]:
    """Class decorator: register ``cls`` under its ``type``."""
    if not cls.type or cls.type in SAMPLER_REGISTRY:
        raise KeyError(f'Sampler type {cls.type!r} is empty or registered already.')
    SAMPLER_REGISTRY[cls.type] = cls
    return cls


def sampler_class(options: dict) -> Type[PatchSampler]:
    """The sampler a ``sampler:`` block names (``HES`` without a ``type``)."""
    name = options.get('type', 'HES')
    if name not in SAMPLER_REGISTRY:
        raise ValueError(f'sampler: unknown type {name!r}; choose from {", ".join(SAMPLER_REGISTRY)}.')
    return SAMPLER_REGISTRY[name]


def sampler_options(options: dict):
    """The typed options of a ``sampler:`` block; unknown keys and bad values raise ``ValueError``."""
    cls = sampler_class(options)
    given = {key: value for key, value in options.items() if key != 'type'}
    check_keys(f'sampler ({cls.type})', given, [field.name for field in fields(cls.Options)])
    try:
        return cls.Options(**given)
    except ValueError as error:
        raise ValueError(f'sampler ({cls.type}): {error}') from None


def build_sampler(options: dict, candidates: Candidates, pairs: ImagePairs) -> PatchSampler:
    """The sampler of a ``sampler:`` block over a dataset's candidates."""
    return sampler_class(options)(sampler_options(options), candidates, pairs)
