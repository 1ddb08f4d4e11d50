"""Slimmable RCAN supernet (paper Sec. 5.1: widths 36/52/64 x depths 5/10/20 RCABs per group)."""
import math
from typing import Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from basicsr.utils.registry import ARCH_REGISTRY

from .slimmable import SlimmableConv2d, SlimmableSupernet, conv_flops


def upsample_stages(scale: int) -> List[int]:
    """Pixel-shuffle factors of BasicSR's ``Upsample``: log2(scale) x 2, or one 3."""
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * int(math.log2(scale))
    if scale == 3:
        return [3]
    raise ValueError(f'WBSRRCAN supports upscale 2^n and 3, got {scale}.')


class SlimmableChannelAttention(nn.Module):
    """RCAN channel attention; at width ``w`` its bottleneck keeps ``w // squeeze_factor`` channels."""

    def __init__(self, num_feat: int, squeeze_factor: int) -> None:
        super().__init__()
        self.squeeze_factor = squeeze_factor
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), SlimmableConv2d(num_feat, num_feat // squeeze_factor, 1),
            nn.ReLU(inplace=True), SlimmableConv2d(num_feat // squeeze_factor, num_feat, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        pool, squeeze, relu, excite, sigmoid = self.attention
        width = x.shape[1]
        weights = sigmoid(excite(relu(squeeze(pool(x), width // self.squeeze_factor)), width))
        return x * weights


class SlimmableRCAB(nn.Module):
    """Residual channel attention block: conv-ReLU-conv-attention plus identity."""

    def __init__(self, num_feat: int, squeeze_factor: int, res_scale: float) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.rcab = nn.Sequential(
            SlimmableConv2d(num_feat, num_feat, 3, 1, 1), nn.ReLU(True), SlimmableConv2d(num_feat, num_feat, 3, 1, 1),
            SlimmableChannelAttention(num_feat, squeeze_factor))

    def forward(self, x: Tensor, width: int) -> Tensor:
        conv1, relu, conv2, attention = self.rcab
        return attention(conv2(relu(conv1(x, width)), width)) * self.res_scale + x


class SlimmableResidualGroup(nn.Module):
    """A group of RCABs, of which a subnet runs the first ``depth``, then a conv and identity."""

    def __init__(self, num_feat: int, num_block: int, squeeze_factor: int, res_scale: float) -> None:
        super().__init__()
        self.residual_group = nn.Sequential(
            *(SlimmableRCAB(num_feat, squeeze_factor, res_scale) for _ in range(num_block)))
        self.conv = SlimmableConv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: Tensor, width: int, depth: int) -> Tensor:
        out = x
        for index in range(depth):
            out = self.residual_group[index](out, width)
        return self.conv(out, width) + x


@ARCH_REGISTRY.register()
class WBSRRCAN(SlimmableSupernet):
    """Supernet of BasicSR's ``RCAN``; every subnet is an ``RCAN`` with all ``num_group`` groups.

    Args:
        num_in_ch, num_out_ch, num_feat, num_group, num_block, squeeze_factor, upscale,
            res_scale, img_range, rgb_mean: as BasicSR's ``RCAN``, except that ``num_block``
            defaults to the paper's 20 RCABs per group (BasicSR's default is 16).
        widths: channel widths of the subnets (default: the paper's 36/52/64 scaled to
            ``num_feat``); must include ``num_feat``; each at least ``squeeze_factor``.
        depths: RCABs per group of the subnets (default: ``num_block`` x 1/4, 1/2, 1);
            must include ``num_block``.
    """

    plain_arch = 'RCAN'
    global_context = True

    def __init__(self,
                 num_in_ch: int = 3,
                 num_out_ch: int = 3,
                 num_feat: int = 64,
                 num_group: int = 10,
                 num_block: int = 20,
                 squeeze_factor: int = 16,
                 upscale: int = 4,
                 res_scale: float = 1,
                 img_range: float = 255.,
                 rgb_mean: Sequence[float] = (0.4488, 0.4371, 0.4040),
                 widths: Optional[Iterable[int]] = None,
                 depths: Optional[Iterable[int]] = None) -> None:
        super().__init__()
        self.stages = upsample_stages(upscale)
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.num_group = num_group
        self.squeeze_factor = squeeze_factor
        self.upscale = upscale
        self.res_scale = res_scale
        self.img_range = img_range
        self.rgb_mean: Tuple[float, ...] = tuple(rgb_mean)
        # BasicSR keeps the mean outside the state dict; a non-persistent buffer does too.
        self.register_buffer('mean', torch.tensor(self.rgb_mean).view(1, 3, 1, 1), persistent=False)

        self.conv_first = SlimmableConv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(SlimmableResidualGroup(num_feat, num_block, squeeze_factor, res_scale)
                                    for _ in range(num_group)))
        self.conv_after_body = SlimmableConv2d(num_feat, num_feat, 3, 1, 1)
        upsample_layers: List[nn.Module] = []
        for factor in self.stages:
            upsample_layers += [SlimmableConv2d(num_feat, factor * factor * num_feat, 3, 1, 1), nn.PixelShuffle(factor)]
        self.upsample = nn.Sequential(*upsample_layers)
        self.conv_last = SlimmableConv2d(num_feat, num_out_ch, 3, 1, 1)
        self._init_subnets(num_feat, num_block, widths, depths)
        too_narrow = [w for w in self.widths if w < squeeze_factor]
        if too_narrow:
            raise ValueError(f'Widths {too_narrow} are below squeeze_factor={squeeze_factor}: their channel '
                             'attention would have no channels.')

    def forward(self, x: Tensor) -> Tensor:
        width, depth = self.active_subnet
        mean = self.mean.type_as(x)
        feat = self.conv_first((x - mean) * self.img_range, width)
        out = feat
        for group in self.body:
            out = group(out, width, depth)
        out = self.conv_after_body(out, width) + feat
        for conv, shuffle in zip(self.upsample[0::2], self.upsample[1::2]):
            out = shuffle(conv(out, shuffle.upscale_factor**2 * width))
        return self.conv_last(out) / self.img_range + mean

    def plain_options(self, subnet: Optional[Sequence[int]] = None) -> dict:
        width, depth = self.full_subnet if subnet is None else self.validate_subnet(subnet)
        return dict(num_in_ch=self.num_in_ch, num_out_ch=self.num_out_ch, num_feat=width, num_group=self.num_group,
                    num_block=depth, squeeze_factor=self.squeeze_factor, upscale=self.upscale,
                    res_scale=self.res_scale, img_range=self.img_range, rgb_mean=self.rgb_mean)

    def _subnet_flops(self, width: int, depth: int, lr_h: int, lr_w: int) -> int:
        conv3x3 = conv_flops(width, width, 3, lr_h, lr_w)
        attention = conv_flops(width, width // self.squeeze_factor, 1, 1, 1) * 2
        rcab = 2 * conv3x3 + attention
        total = conv_flops(self.num_in_ch, width, 3, lr_h, lr_w)
        total += self.num_group * (depth * rcab + conv3x3) + conv3x3
        feat_h, feat_w = lr_h, lr_w
        for factor in self.stages:
            total += conv_flops(width, factor * factor * width, 3, feat_h, feat_w)
            feat_h, feat_w = feat_h * factor, feat_w * factor
        return total + conv_flops(width, self.num_out_ch, 3, feat_h, feat_w)
