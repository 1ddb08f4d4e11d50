"""Building blocks shared by the WBSR supernets (paper Sec. 4.1 and 5.1).

A supernet holds the weights of the widest, deepest network. A subnet ``(width, depth)``
uses the first ``width`` channels of every layer and the first ``depth`` blocks, so it is
exactly the plain BasicSR network built with ``num_feat=width`` and ``depth`` blocks,
holding a slice of the supernet's weights (docs/paper_reading.md, "Supernet").
"""
import contextlib
from collections import OrderedDict
from typing import Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY
from wbsr_basicsr.utils.atomic import write_atomically

Subnet = Tuple[int, int]
"""A subnet as ``(width, depth)``: channels per layer and blocks (per group for RCAN)."""

PAPER_WIDTH_FRACTIONS = (36 / 64, 52 / 64, 1.0)
"""The paper's widths (36, 52, 64) as fractions of ``num_feat`` (Sec. 5.1)."""

PAPER_DEPTH_FRACTIONS = (1 / 4, 1 / 2, 1.0)
"""The paper's depths, (4, 8, 16) for SRResNet and (5, 10, 20) for RCAN, as fractions."""


def conv_flops(in_channels: int, out_channels: int, kernel_size: int, height: int, width: int) -> int:
    """FLOPs (2 x multiply-accumulates, bias excluded) of one stride-1 'same' convolution.

    This is the count ``torch.utils.flop_counter.FlopCounterMode`` reports for a conv.
    """
    return 2 * in_channels * out_channels * kernel_size * kernel_size * height * width


def paper_choices(full: int, fractions: Sequence[float]) -> Tuple[int, ...]:
    """Scale the paper's width or depth fractions to ``full``, keeping at least 1 each."""
    return tuple(sorted({max(1, round(full * f)) for f in fractions}))


class SlimmableConv2d(nn.Conv2d):
    """A ``Conv2d`` whose leading channels form a narrower convolution.

    ``forward(x, out_channels)`` convolves the ``x.shape[1]`` input channels with the first
    ``out_channels`` filters (all of them when ``None``). At full size it is a plain conv.
    """

    def forward(self, x: Tensor, out_channels: Optional[int] = None) -> Tensor:  # type: ignore[override]
        in_channels = x.shape[1]
        out_channels = self.out_channels if out_channels is None else out_channels
        if in_channels == self.in_channels and out_channels == self.out_channels:
            return super().forward(x)
        bias = None if self.bias is None else self.bias[:out_channels]
        return F.conv2d(x, self.weight[:out_channels, :in_channels], bias, self.stride, self.padding,
                        self.dilation, self.groups)


class SlimmableSupernet(nn.Module):
    """Base class of the WBSR supernets: subnet list, selection, FLOPs and export.

    Subclasses build their layers, then call :meth:`_init_subnets`, and implement
    :meth:`_subnet_flops` and :meth:`plain_options`. ``plain_arch`` names the plain
    BasicSR network (in ``ARCH_REGISTRY``) that every subnet is an instance of.
    """

    plain_arch: str = ''
    block_name: str = 'num_block'
    global_context: bool = False
    """True where a layer pools the whole input (RCAN's channel attention): tiles change the output, so
    whole images are never tiled for speed (:func:`wbsr_basicsr.runtime.timing.measure_time_profile`)."""

    def _init_subnets(self, num_feat: int, num_block: int, widths: Optional[Iterable[int]],
                      depths: Optional[Iterable[int]]) -> None:
        """Validate the width and depth choices and order the subnets by FLOPs."""
        widths = paper_choices(num_feat, PAPER_WIDTH_FRACTIONS) if widths is None else tuple(widths)
        depths = paper_choices(num_block, PAPER_DEPTH_FRACTIONS) if depths is None else tuple(depths)
        _check_choices('width', widths, num_feat, 'num_feat')
        _check_choices('depth', depths, num_block, self.block_name)
        self.num_feat = num_feat
        self.num_block = num_block
        self.widths = tuple(sorted(set(widths)))
        self.depths = tuple(sorted(set(depths)))
        pairs = [(w, d) for w in self.widths for d in self.depths]
        self._subnets = tuple(sorted(pairs, key=lambda s: (self.flops(s), s)))
        self._active: Subnet = self.full_subnet

    @property
    def subnets(self) -> Tuple[Subnet, ...]:
        """All ``(width, depth)`` subnets, ordered by FLOPs ascending; the full network is last."""
        return self._subnets

    @property
    def full_subnet(self) -> Subnet:
        """The full network as a subnet: ``(num_feat, num_block)``."""
        return (self.num_feat, self.num_block)

    @property
    def active_subnet(self) -> Subnet:
        """The subnet that ``forward`` runs: the full network outside :meth:`subnet` blocks."""
        return self._active

    @contextlib.contextmanager
    def subnet(self, subnet: Optional[Sequence[int]]) -> Iterator[Subnet]:
        """Forwards inside ``with net.subnet((w, d)):`` run that subnet (``None``: the full network);
        the previous selection comes back when the block ends, also on an error."""
        previous = self._active
        self._active = self.full_subnet if subnet is None else self.validate_subnet(subnet)
        try:
            yield self._active
        finally:
            self._active = previous

    def flops(self, subnet: Optional[Sequence[int]] = None, lr_hw: Tuple[int, int] = (32, 32)) -> int:
        """FLOPs (2 x MACs) of one LR patch of size ``lr_hw`` through ``subnet`` (default: full)."""
        width, depth = self.full_subnet if subnet is None else self.validate_subnet(subnet)
        return self._subnet_flops(width, depth, *lr_hw)

    def subnet_costs(self, lr_hw: Tuple[int, int] = (32, 32)) -> np.ndarray:
        """FLOPs of every subnet (in :attr:`subnets` order, ascending) on one ``lr_hw`` LR patch."""
        return np.array([self.flops(s, lr_hw) for s in self.subnets], dtype=np.float64)

    def plain_options(self, subnet: Optional[Sequence[int]] = None) -> dict:
        """Keyword arguments that build ``subnet`` as the plain BasicSR network."""
        raise NotImplementedError

    def extract_subnet(self, subnet: Optional[Sequence[int]] = None) -> nn.Module:
        """Return ``subnet`` as a plain BasicSR network holding a copy of its weight slice."""
        plain = ARCH_REGISTRY.get(self.plain_arch)(**self.plain_options(subnet))
        own = self.state_dict()
        sliced = {
            key: own[key][tuple(slice(0, n) for n in target.shape)].clone()
            for key, target in plain.state_dict().items()
        }
        plain.load_state_dict(sliced, strict=True)
        reference = next(self.parameters())
        return plain.to(device=reference.device, dtype=reference.dtype)

    def export_subnet(self, subnet: Optional[Sequence[int]], path: Optional[str] = None) -> 'OrderedDict[str, Tensor]':
        """State dict of ``subnet`` as a plain BasicSR network (``plain_options`` builds it).

        With ``path``, also write it the way BasicSR saves networks (``{'params': ...}``),
        so ``network_g: {type: MSRResNet, ...}`` with ``pretrain_network_g: path`` loads it.
        The file is written under a temporary name and renamed when complete.
        """
        state = self.extract_subnet(subnet).cpu().state_dict()
        if path is not None:
            write_atomically(path, lambda tmp_path: torch.save({'params': state}, tmp_path))
        return state

    def _subnet_flops(self, width: int, depth: int, lr_h: int, lr_w: int) -> int:
        """FLOPs of subnet ``(width, depth)`` on one ``lr_h`` x ``lr_w`` patch."""
        raise NotImplementedError

    def validate_subnet(self, subnet: Sequence[int]) -> Subnet:
        """``subnet`` as a ``(width, depth)`` tuple; ``ValueError`` if this supernet has no such subnet."""
        try:
            width, depth = (int(v) for v in subnet)
        except (TypeError, ValueError):
            raise ValueError(f'A subnet is a (width, depth) pair, got {subnet!r}.') from None
        if width not in self.widths or depth not in self.depths:
            raise ValueError(f'Unknown subnet {tuple(subnet)} for {type(self).__name__}: widths are '
                             f'{self.widths}, depths are {self.depths}.')
        return (width, depth)


def _check_choices(kind: str, values: Tuple[int, ...], full: int, full_name: str) -> None:
    """Raise ``ValueError`` unless ``values`` are positive ints up to ``full``, ``full`` included."""
    if not values:
        raise ValueError(f'At least one {kind} is required.')
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f'Each {kind} must be a positive integer, got {value!r}.')
        if value > full:
            raise ValueError(f'A {kind} of {value} is larger than {full_name}={full}.')
    if full not in values:
        raise ValueError(f'The {kind}s {values} must include {full_name}={full}, so that the full '
                         'network is one of the subnets.')
