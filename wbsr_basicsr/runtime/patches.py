"""Chop and merge: the patch geometry of dynamic inference (paper Fig. 2b).

The LR image is chopped into ``patch_size`` patches every ``stride`` pixels, with one more
patch aligned to each border so that every pixel is covered (ClassSR and ARM drop the border
instead). Both directions take a fixed number of operations, however many patches there are:
:func:`chop` gathers them with one indexing operation, and :class:`Merger` adds each batch of
SR patches into the SR image with one scatter and averages where they overlap by the coverage,
computed once. Which subnet a patch gets is the router's business (:mod:`wbsr_basicsr.routing`);
running them is the runner's (:mod:`.runner`).
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.utils.gradient_stats import grid_positions


@dataclass(frozen=True)
class PatchLayout:
    """Where the patches of one (padded) LR image lie: every ``top`` with every ``left``, row by row."""

    tops: Tuple[int, ...]
    lefts: Tuple[int, ...]
    patch_size: int
    height: int  # of the image before padding
    width: int

    @classmethod
    def cover(cls, height: int, width: int, patch_size: int, stride: int) -> 'PatchLayout':
        """Patches every ``stride`` plus border-aligned ones; sides below ``patch_size`` are padded."""
        if not 0 < stride <= patch_size:
            raise ValueError(f'stride must lie in (0, patch_size={patch_size}], got {stride}.')
        padded_h, padded_w = max(height, patch_size), max(width, patch_size)
        return cls(tuple(grid_positions(padded_h, patch_size, stride)),
                   tuple(grid_positions(padded_w, patch_size, stride)), patch_size, height, width)

    @property
    def count(self) -> int:
        return len(self.tops) * len(self.lefts)

    @property
    def corners(self) -> List[Tuple[int, int]]:
        return [(top, left) for top in self.tops for left in self.lefts]

    @property
    def padding(self) -> Tuple[int, int]:
        """Pixels added at the bottom and right so that the image holds one patch."""
        return max(0, self.patch_size - self.height), max(0, self.patch_size - self.width)

    def coverage(self, scale: int) -> Tuple[np.ndarray, np.ndarray]:
        """How many patches cover each pixel of the padded image ``scale`` times larger: the patches
        form a grid, so it is ``rows[:, None] * columns[None, :]``; the two factors, never the
        image-sized product."""
        def along(starts: Tuple[int, ...], length: int) -> np.ndarray:
            counts = np.zeros(length * scale + 1)
            np.add.at(counts, np.asarray(starts) * scale, 1)
            np.add.at(counts, (np.asarray(starts) + self.patch_size) * scale, -1)
            return np.cumsum(counts)[:-1]

        pad_h, pad_w = self.padding
        return along(self.tops, self.height + pad_h), along(self.lefts, self.width + pad_w)

    def pixel_starts(self, scale: int) -> np.ndarray:
        """Each patch's top-left pixel in the padded image ``scale`` times larger, as a flat index, row by row."""
        width = (self.width + self.padding[1]) * scale
        return (np.asarray(self.tops)[:, None] * scale * width + np.asarray(self.lefts)[None, :] * scale).reshape(-1)


def chop(image: Tensor, layout: PatchLayout, indices: Optional[Tensor] = None, scale: int = 1) -> Tensor:
    """``(1, C, H*s, W*s)`` -> ``(N, C, P*s, P*s)``: the patches at ``layout.corners`` (those at
    ``indices``; default all) of an image ``scale`` times the layout's (the GT above the LR
    patches), replicate-padded if smaller than a patch; gathered in one indexing operation, in the
    channels-last memory format (:func:`channels_last`)."""
    pad_h, pad_w = layout.padding
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w * scale, 0, pad_h * scale), mode='replicate')
    size, device = layout.patch_size * scale, image.device
    steps = torch.arange(size, device=device)
    tops = torch.as_tensor(layout.tops, device=device).repeat_interleave(len(layout.lefts))
    lefts = torch.as_tensor(layout.lefts, device=device).repeat(len(layout.tops))
    if indices is not None:
        tops, lefts = tops[indices], lefts[indices]
    rows, cols = tops[:, None] * scale + steps, lefts[:, None] * scale + steps  # (N, P*s) each
    pixels = image[0].permute(1, 2, 0)  # (H, W, C): a view
    return pixels[rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (N, P, P, C) -> channels-last NCHW


class GTPatches:
    """The GT region above each LR patch of ``layout``, cut when sliced (``gt_patches[a:b]``:
    ``(b - a, C, P*s, P*s)``, one gather), so that a large image's GT patches are never all held at
    once; ``gt`` is ``(1, C, H*s, W*s)``."""

    def __init__(self, gt: Tensor, layout: PatchLayout) -> None:
        self.gt, self.layout, self.scale = gt, layout, gt.shape[-1] // layout.width

    def __len__(self) -> int:
        return self.layout.count

    def __getitem__(self, rows: slice) -> Tensor:
        return chop(self.gt, self.layout, torch.arange(self.layout.count, device=self.gt.device)[rows], self.scale)


class Merger:
    """Sums SR patches into the SR image as they come, then averages where they overlap.

    Each :meth:`add` is one scatter (``index_add_``) of a batch of SR patches at positions computed
    from the layout; :meth:`image` divides by the coverage once. Only the image-sized sum is held,
    never all SR patches at once (bounded memory).
    """

    def __init__(self, layout: PatchLayout, scale: int, channels: int, like: Tensor) -> None:
        pad_h, pad_w = layout.padding
        self.layout, self.scale = layout, scale
        self.height, self.width = (layout.height + pad_h) * scale, (layout.width + pad_w) * scale
        self.total = like.new_zeros(channels, self.height * self.width)
        steps = torch.arange(layout.patch_size * scale, device=like.device)
        self.offsets = (steps[:, None] * self.width + steps[None, :]).reshape(-1)  # a patch's pixels, row by row
        self.starts = torch.as_tensor(layout.pixel_starts(scale), device=like.device)
        self.added = 0

    def add(self, rows: Tensor, outputs: Tensor) -> None:
        """Add the SR patches ``outputs`` ``(n, C, P*s, P*s)`` of the patches ``rows`` (indices into
        ``layout.corners``, on the outputs' device)."""
        index = (self.starts[rows][:, None] + self.offsets[None, :]).reshape(-1)
        self.total.index_add_(1, index, outputs.transpose(0, 1).reshape(self.total.shape[0], -1).to(self.total))
        self.added += len(rows)

    def image(self) -> Tensor:
        """The ``(1, C, H*s, W*s)`` SR image: every pixel the mean of the patches covering it."""
        if self.added != self.layout.count:
            raise RuntimeError(f'{self.added} SR patches were added for {self.layout.count} patches; add every one '
                               'once.')
        rows, columns = (torch.from_numpy(counts).to(self.total) for counts in self.layout.coverage(self.scale))
        image = self.total.view(1, -1, self.height, self.width)
        image /= rows[:, None]  # in place, in two factors: the SR image is the largest tensor of a large input
        image /= columns[None, :]
        height, width = self.layout.height * self.scale, self.layout.width * self.scale
        return image[..., :height, :width]


def channels_last(patches: Tensor) -> Tensor:
    """``patches`` in the channels-last memory format: on the CPU, convolutions over small patches
    at the subnets' widths (36, 52, ...) run about twice as fast in it (docs/results.md,
    "Inference speed and memory"); the values are the same."""
    return patches.contiguous(memory_format=torch.channels_last)
