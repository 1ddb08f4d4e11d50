"""Chop and merge: the patch geometry of dynamic inference (paper Fig. 2b).

The LR image is chopped into ``patch_size`` patches every ``stride`` pixels, with one more
patch aligned to each border so that every pixel is covered (ClassSR and ARM drop the border
instead). The SR patches are summed into the SR image as they come and averaged where they
overlap (:class:`MergeBuffer`). Which subnet a patch gets is the router's business
(:mod:`wbsr_basicsr.routing`); running them is the engine's (:mod:`.engine`).
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

from wbsr_basicsr.utils.gradient_stats import grid_positions


@dataclass(frozen=True)
class PatchLayout:
    """Where the patches of one (padded) LR image lie."""

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
    def corners(self) -> List[Tuple[int, int]]:
        return [(top, left) for top in self.tops for left in self.lefts]

    @property
    def padding(self) -> Tuple[int, int]:
        """Pixels added at the bottom and right so that the image holds one patch."""
        return max(0, self.patch_size - self.height), max(0, self.patch_size - self.width)


def chop(image: Tensor, layout: PatchLayout) -> Tensor:
    """``(1, C, H, W)`` -> ``(N, C, P, P)`` patches at ``layout.corners`` (replicate-padded if small)."""
    pad_h, pad_w = layout.padding
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode='replicate')
    size = layout.patch_size
    return torch.cat([image[..., top:top + size, left:left + size] for top, left in layout.corners])


class GTPatches:
    """The GT region above each LR patch of ``layout``, cut when sliced (``gt_patches[a:b]``:
    ``(b - a, C, P*s, P*s)``), so that a large image's GT patches are never all held at once.
    ``gt`` is ``(1, C, H*s, W*s)``, padded here as the LR image was if smaller than a patch."""

    def __init__(self, gt: Tensor, layout: PatchLayout) -> None:
        self.scale = gt.shape[-1] // layout.width
        pad_h, pad_w = layout.padding
        if pad_h or pad_w:
            gt = F.pad(gt, (0, pad_w * self.scale, 0, pad_h * self.scale), mode='replicate')
        self.gt, self.corners, self.size = gt, layout.corners, layout.patch_size * self.scale

    def __len__(self) -> int:
        return len(self.corners)

    def __getitem__(self, rows: slice) -> Tensor:
        scale, size = self.scale, self.size
        return torch.cat([self.gt[..., top * scale:top * scale + size, left * scale:left * scale + size]
                          for top, left in self.corners[rows]])


class MergeBuffer:
    """Sums SR patches into the SR image as they come, then averages where they overlap.

    Only the image-sized sums are held, never all SR patches at once (bounded memory).
    """

    def __init__(self, layout: PatchLayout, scale: int, channels: int, like: Tensor) -> None:
        pad_h, pad_w = layout.padding
        self.layout, self.scale = layout, scale
        height, width = (layout.height + pad_h) * scale, (layout.width + pad_w) * scale
        self.total = like.new_zeros(1, channels, height, width)
        self.count = like.new_zeros(1, 1, height, width)

    def add(self, rows: Sequence[int], outputs: Tensor) -> None:
        """Add the SR patches ``outputs`` of the patches ``rows`` (indices into ``layout.corners``)."""
        size, scale = self.layout.patch_size * self.scale, self.scale
        corners = self.layout.corners
        for row, patch in zip(rows, outputs):
            top, left = corners[int(row)]
            self.total[..., top * scale:top * scale + size, left * scale:left * scale + size] += patch
            self.count[..., top * scale:top * scale + size, left * scale:left * scale + size] += 1

    def image(self) -> Tensor:
        """The ``(1, C, H*s, W*s)`` SR image: every pixel the mean of the patches covering it."""
        if not bool((self.count > 0).all()):
            raise RuntimeError('Some SR pixels received no patch; add the outputs of every patch first.')
        self.total /= self.count  # in place: the SR image is the largest tensor of a large input
        return self.total[..., :self.layout.height * self.scale, :self.layout.width * self.scale]


def channels_last(patches: Tensor) -> Tensor:
    """``patches`` in the channels-last memory format: on the CPU, convolutions over small patches
    at the subnets' widths (36, 52, ...) run about twice as fast in it (docs/results.md,
    "Inference speed and memory"); the values are the same."""
    return patches.contiguous(memory_format=torch.channels_last)
