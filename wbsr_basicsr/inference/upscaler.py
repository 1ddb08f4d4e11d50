"""Super-resolve LR images with a WBSR checkpoint alone: what ``inference/inference_wbsr.py`` runs.

:class:`Upscaler` loads the supernet the checkpoint records with its routing (thresholds,
calibration: :class:`.checkpoint.SupernetEntry`) and runs one row per image on the engine
(:mod:`.engine`): routed rows chop, route, run and merge; ``whole`` rows run one subnet on the
whole image, as a plain BasicSR network would. Each result reports two FLOPs ratios against the
full network on the whole image: the paper's (per patch, overlaps not counted) and the honest one
(every patch actually run, overlaps included).
"""
import contextlib
import re
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.plans.planner import Plan
from wbsr_basicsr.routing import Router
from wbsr_basicsr.runtime.timing import TimeProfile, device_name, measure_time_profile, rescale_profile

from .supernet_entry import LoadedRouting, fingerprint, load_supernet
from .engine import Allocations, Engine


@dataclass
class Upscaled:
    """One image's SR output and its cost."""

    sr: Tensor
    subnet_ids: Optional[np.ndarray]  # per patch (routed rows)
    corners: Optional[List[Tuple[int, int]]]
    flops: float  # FLOPs run, overlapping patches and a pre-pad border included, router apart
    full_flops: float  # the full network's on the whole image (without its pre-pad border)
    flops_percent: float  # the paper's convention: per patch, of the full network on the same patches
    seconds: float
    whole_subnet: Optional[Subnet] = None  # a time budget's fallback: this subnet ran on the whole image
    time_share: Optional[float] = None  # time budgets: predicted seconds over the full network's on the image
    unmeasured: bool = False  # time budgets: the image is smaller than any the time profile measured
    plan: Optional[Plan] = None  # plan rows: what ran

    @property
    def honest_percent(self) -> float:
        return 100. * self.flops / self.full_flops


DEVICE = re.compile(r'^(auto|cpu|cuda(:[0-9]+)?)$')
"""The devices the commands run on."""


@dataclass(frozen=True)
class Runtime:
    """Where and how the network runs: ``device`` (``auto``: CUDA when there is a GPU, else the
    CPU), half precision under CUDA autocast (``fp16``; None: on CUDA, not on the CPU), at most
    ``max_batch`` patches per forward, whole images in tiles of ``tile`` LR pixels with ``tile_pad``
    of margin (0: untiled; None: in the tiles the time profile measured faster, if any:
    :meth:`wbsr_basicsr.runtime.runner.Runner.tiles`)."""

    device: str = 'cpu'
    fp16: Optional[bool] = False
    max_batch: int = 256
    tile: Optional[int] = None
    tile_pad: int = 10

    def resolved(self) -> 'Runtime':
        """This runtime with ``auto`` and an unset precision decided, checked against the machine."""
        if not DEVICE.match(self.device):
            raise ValueError(f'--device {self.device}: choose auto, cpu, cuda or cuda:N (the N-th GPU).')
        device = ('cuda' if torch.cuda.is_available() else 'cpu') if self.device == 'auto' else self.device
        fp16 = device.startswith('cuda') if self.fp16 is None else self.fp16
        if fp16 and not device.startswith('cuda'):
            raise ValueError('--fp16 runs under CUDA autocast; it needs a CUDA device.')
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'--device {device}: CUDA is not available on this machine; use --device cpu.')
        if ':' in device and int(device.split(':')[1]) >= torch.cuda.device_count():
            raise ValueError(f'--device {device}: this machine has {torch.cuda.device_count()} GPU(s), numbered from 0.')
        if self.max_batch < 1:
            raise ValueError(f'--max-batch {self.max_batch}: give at least 1 patch per forward.')
        if self.tile_pad < 0:
            raise ValueError(f'--tile-pad {self.tile_pad}: a margin cannot be negative.')
        if self.tile and self.tile <= self.tile_pad:
            raise ValueError(f'--tile {self.tile}: a tile of {self.tile} LR pixels is no larger than its margin of '
                             f'{self.tile_pad} (--tile-pad); give a larger tile.')
        return replace(self, device=device, fp16=fp16)


class Upscaler:
    """A supernet with its routing, ready to super-resolve as ``runtime`` says."""

    def __init__(self, net: SlimmableSupernet, loaded: LoadedRouting, scale: int, runtime: Runtime = Runtime(),
                 where: str = 'the network', profiles: Sequence[TimeProfile] = ()) -> None:
        runtime = runtime.resolved()
        self.net = net.eval().to(runtime.device, memory_format=torch.channels_last)  # see patches.channels_last
        self.routing, self.scale, self.where = loaded.data, scale, where
        self.profiles = tuple(profiles)
        """Every time profile the checkpoint holds (each of its own device)."""
        self.device, self.fp16 = torch.device(runtime.device), runtime.fp16
        self.patch_size, self.stride = loaded.geometry.patch_size, loaded.geometry.stride
        self.engine = Engine(self.net, loaded.data, self.patch_size, self.stride, runtime.max_batch, runtime.tile,
                             runtime.tile_pad)

    @classmethod
    def from_checkpoint(cls, checkpoint: str, runtime: Runtime = Runtime(),
                        network_opt: Optional[Dict] = None) -> 'Upscaler':
        """The supernet a WBSR checkpoint records (or ``network_opt`` builds), with its routing and the
        time profile of the runtime's device, if the checkpoint has one."""
        runtime = runtime.resolved()
        net, _, entry = load_supernet(checkpoint, network_opt)
        loaded = entry.routing(net, fingerprint(net), checkpoint,
                               device=device_name(torch.device(runtime.device), runtime.fp16))
        return cls(net, loaded, entry.scale or net.upscale, runtime, checkpoint, entry.timing)

    @property
    def device_name(self) -> str:
        return device_name(self.device, self.fp16)

    def measure_time_profile(self) -> TimeProfile:
        """Measure and use this device's time profile (for checkpoints that have none for it)."""
        with self.autocast():
            profile = measure_time_profile(self.engine.runner, self.device_name)
        self.use_time_profile(profile)
        return profile

    def rescale_time_profile(self) -> Optional[TimeProfile]:
        """The checkpoint's profile of another device of this kind and precision (another thread count or
        processor) re-scaled to this one in seconds (:func:`rescale_profile`), and used; None if it holds none."""
        kind, precision = self.device_name.split()[0], self.device_name.rsplit(', ', 1)[-1]
        source = next((profile for profile in self.profiles
                       if profile.device.split()[0] == kind and profile.device.endswith(precision)), None)
        if source is None:
            return None
        with self.autocast():
            profile = rescale_profile(self.engine.runner, source, self.device_name)
        self.use_time_profile(profile)
        return profile

    def use_time_profile(self, profile: TimeProfile) -> None:
        self.routing = self.routing.with_item(profile)
        self.engine.data = self.routing

    def check(self, row: Router) -> None:
        self.engine.check([row], self.where)

    def autocast(self):
        return torch.autocast('cuda', dtype=torch.float16) if self.fp16 else contextlib.nullcontext()

    def first_pass(self, images: Iterable[Tensor], count: int, row: Router) -> Allocations:
        """:meth:`.engine.Engine.first_pass` of ``row`` over the ``count`` LR ``images``."""
        with torch.no_grad(), self.autocast():
            return self.engine.first_pass([row], ((image.to(self.device), None) for image in images), count)

    @torch.no_grad()
    def upscale(self, lq: Tensor, row: Router, subnet_ids: Optional[np.ndarray] = None, pre_pad: int = 0) -> Upscaled:
        """Super-resolve ``lq`` ``(1, C, H, W)`` in [0, 1] under ``row`` (``subnet_ids``: allocated by
        :meth:`first_pass`), with ``pre_pad`` LR pixels of reflected border at the bottom and right that
        are cropped off the output (Real-ESRGAN's ``--pre_pad``)."""
        height, width = lq.shape[-2:]
        lq = pad_bottom_right(lq.to(self.device), pre_pad)
        with self.autocast():
            result = self.engine.infer(lq, row, subnet_ids)
        result.sr = result.sr[..., :height * self.scale, :width * self.scale]
        routed = row.patchwise and not result.fallback
        return Upscaled(result.sr.float(), result.subnet_ids if routed else None,
                        result.layout.corners if routed else None, result.flops,
                        self.net.flops(None, (height, width)),
                        100. * result.flops_per_patch / self.engine.runner.costs.max(), result.seconds,
                        self.net.subnets[int(result.subnet_ids[0])] if result.fallback else None, result.time_share,
                        result.unmeasured, result.plan)


def pad_bottom_right(lq: Tensor, pad: int) -> Tensor:
    """``lq`` with ``pad`` pixels of reflected border below and to the right (replicated where the image
    is too small to reflect)."""
    if pad == 0:
        return lq
    mode = 'reflect' if pad < min(lq.shape[-2:]) else 'replicate'
    return torch.nn.functional.pad(lq, (0, pad, 0, pad), mode=mode)
