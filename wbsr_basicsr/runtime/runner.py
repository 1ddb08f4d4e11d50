"""The runner: what runs subnet ``k`` of a supernet on a whole image, its tiles, some windows or a batch
of patches, and what that is predicted to cost (FLOPs; seconds by the time profile).

Everything that spends a budget sits above it and is handed a runner: the routing units and the
planner (:mod:`wbsr_basicsr.plans`), the budget units (:mod:`wbsr_basicsr.budgets`), the routers'
measurements, the time profile's measurement (:mod:`.timing`) and the engine
(:mod:`wbsr_basicsr.inference.engine`). A compiled runtime plugs in here, behind :meth:`Runner.run`.
"""
from typing import Dict, Optional

import numpy as np
import torch
from torch import Tensor, nn

from wbsr_basicsr.archs.slimmable import SlimmableSupernet

from .patches import Merger, PatchLayout, channels_last
from .pieces import Pieces, tiled
from .timing import TimeProfile


class Runner:
    """Runs the subnets of ``net`` (in eval mode) on LR images, routed in ``patch_size`` patches every
    ``stride`` pixels, at most ``max_batch`` patches per forward; one subnet on a whole image runs in
    tiles of ``tile`` LR pixels with ``tile_pad`` of margin when ``tile`` is set, untiled when it is 0,
    and when it is None in the tiles the time profile ``timing`` measured faster, if any (:meth:`tiles`).

    Each subnet runs as a plain network holding a copy of its weights (:meth:`prepared`), made once
    per runner: no weight is sliced per forward. It is the routers'
    :class:`~wbsr_basicsr.routing.base.PatchRunner`."""

    def __init__(self, net: SlimmableSupernet, patch_size: int, stride: int, max_batch: int = 256,
                 tile: Optional[int] = None, tile_pad: int = 10, timing: Optional[TimeProfile] = None) -> None:
        self.net, self.tile, self.tile_pad, self.timing = net, tile, tile_pad, timing
        self.patch_size, self.stride, self.max_batch = patch_size, stride, max_batch
        self.num_subnets = len(net.subnets)
        self.costs = net.subnet_costs((patch_size, patch_size))
        """Each subnet's FLOPs per patch."""
        self._prepared: Dict[int, nn.Module] = {}

    # ------------------------------------------------------------------ running

    def prepared(self, index: int) -> nn.Module:
        """Subnet ``index`` as the plain network it is (``SlimmableSupernet.extract_subnet``), in eval
        mode and the channels-last format, made on first use; the supernet's parameters must not
        change while this runner runs (a runner lasts one validation, or one command)."""
        if index not in self._prepared:
            plain = self.net.extract_subnet(self.net.subnets[index]).eval()
            self._prepared[index] = plain.to(memory_format=torch.channels_last)
        return self._prepared[index]

    def prepare_all(self) -> None:
        """Every subnet :meth:`prepared` now, so that no row's time includes making one."""
        for index in range(self.num_subnets):
            self.prepared(index)

    def run(self, index: int, patches: Tensor) -> Tensor:
        """SR patches of subnet ``index`` (channels-last, see :func:`.patches.channels_last`)."""
        return self.prepared(index)(channels_last(patches))

    def run_whole(self, index: int, lq: Tensor) -> Tensor:
        """Subnet ``index`` on the whole ``(1, C, H, W)`` image, tile by tile (:meth:`tiles`): each with a
        margin of the image around it that is cropped off its output, so that memory holds one tile's
        activations and, where the network's receptive field fits the margin, the output is the
        untiled one (no seams; the margins the time profile tiles with keep it within a grey level)."""
        tiles = self.tiles(*lq.shape[-2:], index)
        return self.run(index, lq) if tiles.count == 1 else self.run_in_tiles(index, lq, tiles)

    def run_in_tiles(self, index: int, lq: Tensor, tiles: Pieces) -> Tensor:
        """Subnet ``index`` on every window of ``tiles``, each output cropped to its region."""
        return self.run_windows(lq, tiles.windows, tiles.regions, np.full(tiles.count, index))

    def run_windows(self, lq: Tensor, windows: np.ndarray, regions: np.ndarray, ids: np.ndarray) -> Tensor:
        """The SR image of ``lq`` ``(1, C, H, W)`` whose ``regions`` (boxes top, left, bottom, right in LR
        pixels, covering the image) each come from subnet ``ids[k]`` run on ``windows[k]`` around them,
        cropped to the region."""
        output = None
        for index, (y0, x0, y1, x1), (top, left, bottom, right) in zip(ids.tolist(), windows.tolist(),
                                                                        regions.tolist()):
            sr = self.run(index, lq[..., y0:y1, x0:x1])
            scale = sr.shape[-1] // (x1 - x0)
            if output is None:
                output = sr.new_empty(1, sr.shape[1], lq.shape[-2] * scale, lq.shape[-1] * scale)
            output[..., top * scale:bottom * scale, left * scale:right * scale] = sr[
                ..., (top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale]
        return output

    def run_routed(self, patches: Tensor, subnet_ids: np.ndarray, layout: PatchLayout) -> Tensor:
        """Run each patch through the subnet it was routed to, all patches of one subnet as batches
        of at most ``max_batch``, and merge the SR patches as they come (:class:`.patches.Merger`):
        a fixed number of operations per batch, none per patch."""
        merger: Optional[Merger] = None
        indices, counts = np.unique(subnet_ids, return_counts=True)
        order = torch.as_tensor(np.argsort(subnet_ids, kind='stable'), device=patches.device)
        for index, rows in zip(indices, order.split(counts.tolist())):
            for chunk in rows.split(self.max_batch):
                result = self.run(int(index), patches.index_select(0, chunk))
                if merger is None:
                    merger = Merger(layout, result.shape[-1] // layout.patch_size, result.shape[1], result)
                merger.add(chunk, result)
        if merger is None:
            raise ValueError('No patches to run.')
        return merger.image()

    # ------------------------------------------------------------------ where and at what cost

    def layout(self, lq: Tensor) -> PatchLayout:
        return self.layout_of(lq.shape[-2], lq.shape[-1])

    def layout_of(self, height: int, width: int) -> PatchLayout:
        return PatchLayout.cover(height, width, self.patch_size, self.stride)

    def tiles(self, height: int, width: int, index: int = -1) -> Pieces:
        """The tiles subnet ``index`` runs a whole ``height`` x ``width`` image in (:func:`.pieces.tiled`),
        each on a window a margin wider on every side inside the image: ``tile`` pixels with
        ``tile_pad``; with ``tile`` None, those the time profile measured faster on images this large
        (:meth:`.TimeProfile.faster_tile`), if any; else one tile, the whole image."""
        tile, pad = self.tile, self.tile_pad
        if tile is None and self.timing is not None:
            tile, pad = self.timing.faster_tile(index % self.num_subnets, height * width), self.timing.tile_pad
        return tiled(height, width, tile, pad) if tile else tiled(height, width, max(height, width), 0)

    def subnet_image_flops(self, index: int, height: int, width: int) -> float:
        """FLOPs of subnet ``index`` on a whole ``height`` x ``width`` image as :meth:`run_whole` runs it,
        every tile's margin included."""
        subnet = self.net.subnets[index]
        windows = self.tiles(height, width, index).windows
        return float(sum(self.net.flops(subnet, (y1 - y0, x1 - x0)) for y0, x0, y1, x1 in windows))

    def subnet_image_seconds(self, index: int, height: int, width: int) -> float:
        """Predicted seconds of subnet ``index`` on a whole ``height`` x ``width`` image as :meth:`run_whole`
        runs it, by the time profile."""
        windows = self.tiles(height, width, index)
        return float(self.timing.windows_seconds(windows.window_pixels())[:, index].sum())
