"""Slimmable MSRResNet supernet (paper Sec. 5.1: widths 36/52/64 x depths 4/8/16)."""
from typing import Iterable, Optional, Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from basicsr.archs.arch_util import default_init_weights
from basicsr.utils.registry import ARCH_REGISTRY

from .slimmable import SlimmableConv2d, SlimmableSupernet, conv_flops

SUPPORTED_SCALES = (2, 3, 4)


class SlimmableResidualBlock(nn.Module):
    """BasicSR's ``ResidualBlockNoBN`` (conv-ReLU-conv plus identity) at any leading width."""

    def __init__(self, num_feat: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = SlimmableConv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = SlimmableConv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x: Tensor, width: int) -> Tensor:
        return x + self.conv2(self.relu(self.conv1(x, width)), width) * self.res_scale


@ARCH_REGISTRY.register()
class WBSRMSRResNet(SlimmableSupernet):
    """Supernet of BasicSR's ``MSRResNet``; every subnet is an ``MSRResNet``.

    Args:
        num_in_ch, num_out_ch, num_feat, num_block, upscale: as BasicSR's ``MSRResNet``.
        widths: channel widths of the subnets (default: the paper's 36/52/64 scaled to
            ``num_feat``); must include ``num_feat``.
        depths: residual-block counts of the subnets (default: ``num_block`` x 1/4, 1/2, 1);
            must include ``num_block``.
    """

    plain_arch = 'MSRResNet'

    def __init__(self,
                 num_in_ch: int = 3,
                 num_out_ch: int = 3,
                 num_feat: int = 64,
                 num_block: int = 16,
                 upscale: int = 4,
                 widths: Optional[Iterable[int]] = None,
                 depths: Optional[Iterable[int]] = None) -> None:
        super().__init__()
        if upscale not in SUPPORTED_SCALES:
            raise ValueError(f'WBSRMSRResNet supports upscale {SUPPORTED_SCALES}, got {upscale}.')
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.upscale = upscale

        self.conv_first = SlimmableConv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(SlimmableResidualBlock(num_feat) for _ in range(num_block)))
        if upscale == 4:
            self.upconv1 = SlimmableConv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = SlimmableConv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = SlimmableConv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        self.conv_hr = SlimmableConv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = SlimmableConv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

        default_init_weights([self.conv_first, self.upconv1, self.conv_hr, self.conv_last], 0.1)
        if upscale == 4:
            default_init_weights(self.upconv2, 0.1)
        self._init_subnets(num_feat, num_block, widths, depths)

    def forward(self, x: Tensor) -> Tensor:
        width, depth = self.active_subnet
        out = self.lrelu(self.conv_first(x, width))
        for index in range(depth):
            out = self.body[index](out, width)
        # PixelShuffle(r) maps the first r*r*width channels onto the first `width` ones.
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv1(out, 4 * width)))
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out, 4 * width)))
        else:
            out = self.lrelu(self.pixel_shuffle(self.upconv1(out, self.upscale**2 * width)))
        out = self.conv_last(self.lrelu(self.conv_hr(out, width)))
        return out + F.interpolate(x, scale_factor=self.upscale, mode='bilinear', align_corners=False)

    def plain_options(self, subnet: Optional[Sequence[int]] = None) -> dict:
        width, depth = self.full_subnet if subnet is None else self.validate_subnet(subnet)
        return dict(num_in_ch=self.num_in_ch, num_out_ch=self.num_out_ch, num_feat=width, num_block=depth,
                    upscale=self.upscale)

    def _subnet_flops(self, width: int, depth: int, lr_h: int, lr_w: int) -> int:
        scale = self.upscale
        total = conv_flops(self.num_in_ch, width, 3, lr_h, lr_w)
        total += 2 * depth * conv_flops(width, width, 3, lr_h, lr_w)
        if scale == 4:
            total += conv_flops(width, 4 * width, 3, lr_h, lr_w)
            total += conv_flops(width, 4 * width, 3, 2 * lr_h, 2 * lr_w)
        else:
            total += conv_flops(width, scale * scale * width, 3, lr_h, lr_w)
        total += conv_flops(width, width, 3, scale * lr_h, scale * lr_w)
        total += conv_flops(width, self.num_out_ch, 3, scale * lr_h, scale * lr_w)
        return total
