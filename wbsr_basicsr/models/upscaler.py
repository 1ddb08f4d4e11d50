"""Super-resolve LR images with a WBSR checkpoint alone: the engine of ``inference/inference_wbsr.py``.

:class:`Upscaler` loads the supernet the checkpoint records, with its routing thresholds and
calibration, and runs one inference row per image: routed rows chop, route, run and merge
(:mod:`.dynamic_inference`); ``fixed`` rows run that subnet on the whole image, as a plain
BasicSR network would (in the channels-last memory format, faster on the CPU). Each result
reports two FLOPs ratios against the full network on the
whole image: the paper's (per patch, overlaps not counted) and the honest one (every patch
actually run, overlaps included).
"""
import contextlib
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.gradient_router import Router
from wbsr_basicsr.utils.checkpoints import load_supernet, state_checksum

from .dynamic_inference import InferenceRow, Routing, check_routing, dataset_allocations, infer_image
from .patches import PatchLayout, channels_last


@dataclass
class Upscaled:
    """One image's SR output and its cost."""

    sr: Tensor
    subnet_ids: Optional[np.ndarray]  # per patch (routed rows)
    corners: Optional[List[Tuple[int, int]]]
    flops: float  # FLOPs run, overlapping patches included, router apart
    whole_flops: float  # the full network's on the whole image
    flops_percent: float  # the paper's convention: per patch, of the full network on the same patches
    seconds: float

    @property
    def honest_percent(self) -> float:
        return 100. * self.flops / self.whole_flops


class Upscaler:
    """A supernet with its routing, ready to super-resolve on ``device``, at most ``max_batch``
    patches per forward, in half precision under CUDA autocast if ``fp16``."""

    def __init__(self, net: SlimmableSupernet, routing: Routing, scale: int, device: str = 'cpu',
                 max_batch: int = 256, fp16: bool = False, where: str = 'the network') -> None:
        if fp16 and not device.startswith('cuda'):
            raise ValueError('--fp16 runs under CUDA autocast; it needs --device cuda.')
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'--device {device}: CUDA is not available on this machine; use --device cpu.')
        self.net = net.eval().to(device, memory_format=torch.channels_last)  # see patches.channels_last
        self.routing, self.scale, self.where = routing, scale, where
        self.device, self.max_batch, self.fp16 = torch.device(device), max_batch, fp16
        self.patch_size = routing.router.patch_size if routing.router else 32
        self.stride = routing.router.stride if routing.router else 28

    @classmethod
    def from_checkpoint(cls, checkpoint: str, device: str = 'cpu', max_batch: int = 256, fp16: bool = False,
                        network_opt: Optional[Dict] = None) -> 'Upscaler':
        """The supernet a WBSR checkpoint records (or ``network_opt`` builds), with its routing
        thresholds and calibration (checked against its parameters)."""
        net, content, extras = load_supernet(checkpoint, network_opt)
        scale = extras.get('scale') or net.upscale
        router = Router.from_dict(extras['router']) if extras.get('router') else None
        calibration = Calibration.from_dict(extras['calibration']) if extras.get('calibration') else None
        if calibration is not None:
            calibration.check(net.subnets, scale, router.patch_size if router else calibration.patch_size,
                              state_checksum(content['params']), checkpoint)
        return cls(net, Routing(router, calibration), scale, device, max_batch, fp16, checkpoint)

    def check(self, row: InferenceRow) -> None:
        check_routing([row], self.routing, self.where)

    def _autocast(self):
        return torch.autocast('cuda', dtype=torch.float16) if self.fp16 else contextlib.nullcontext()

    def patch_target(self, target: float, sizes: Sequence[Tuple[int, int]]) -> float:
        """The per-patch target (the paper's convention) that spends ``target`` x the full network's
        FLOPs on whole images of ``sizes`` ``(H, W)``, counting every patch run, overlaps included;
        no less than the cheapest subnet's share."""
        patches = sum(len(PatchLayout.cover(h, w, self.patch_size, self.stride).corners) for h, w in sizes)
        whole = sum(self.net.flops(None, size) for size in sizes)
        costs = self.net.subnet_costs((self.patch_size, self.patch_size))
        return float(min(1., max(costs.min() / costs.max(), target * whole / (patches * costs.max()))))

    def folder_allocations(self, images: Iterable[Tensor], row: InferenceRow) -> Tuple[List[np.ndarray], float]:
        """A ``dataset``-scope row's first pass over ``images``: each image's subnets, seconds per image."""
        with torch.no_grad(), self._autocast():
            pairs = ((image.to(self.device), None) for image in images)
            return dataset_allocations(pairs, [row], self.net, self.routing, self.patch_size, self.stride,
                                       self.max_batch)[row.label]

    @torch.no_grad()
    def upscale(self, lq: Tensor, row: InferenceRow, subnet_ids: Optional[np.ndarray] = None) -> Upscaled:
        """Super-resolve ``lq`` ``(1, 3, H, W)`` in [0, 1] under ``row`` (``subnet_ids``: allocated by
        :meth:`folder_allocations`)."""
        lq = lq.to(self.device)
        whole = self.net.flops(None, (lq.shape[-2], lq.shape[-1]))
        with self._autocast():
            if row.mode == 'fixed':
                synchronize = torch.cuda.synchronize if lq.is_cuda else (lambda: None)
                started = time.perf_counter()
                with self.net.subnet(row.subnet):
                    sr = self.net(channels_last(lq))
                synchronize()
                flops = self.net.flops(row.subnet, (lq.shape[-2], lq.shape[-1]))
                return Upscaled(sr.float(), None, None, flops, whole, 100. * flops / whole,
                                time.perf_counter() - started)
            result = infer_image(self.net, lq, row, self.routing, self.patch_size, self.stride, self.max_batch,
                                 subnet_ids)
        full_patch = self.net.flops(None, (self.patch_size, self.patch_size))
        return Upscaled(result.sr.float(), result.subnet_ids, result.layout.corners,
                        result.flops_per_patch * len(result.subnet_ids), whole,
                        100. * result.flops_per_patch / full_patch, result.seconds)
