"""ClassSR's patch classifier (Kong et al., CVPR 2021), the router of Table 1's "+ClassSR" row.

A 4 x 4 stride-4 convolution to ``num_feat`` channels, 1 x 1 convolutions (LeakyReLU 0.1
between them) down to ``num_out_feat``, global average pooling and a fully connected layer to
one logit per class. Here a class is a subnet of a WBSR supernet
(:mod:`wbsr_basicsr.routing.classsr_router`, docs/routing.md "ClassSR").
"""
from torch import Tensor, nn

from basicsr.archs.arch_util import default_init_weights
from basicsr.utils.registry import ARCH_REGISTRY


@ARCH_REGISTRY.register()
class ClassSRClassifier(nn.Module):
    """Logits ``(N, num_classes)`` of LR patches ``(N, num_in_ch, H, W)`` (H, W multiples of 4).

    Args:
        num_in_ch: input channels (3).
        num_classes: classes, one per routed subnet (ClassSR: 3).
        num_feat: channels of the stride-4 convolution and the 1 x 1 convolutions after it (128).
        num_out_feat: channels of the last 1 x 1 convolution, pooled into the linear layer (32).
        num_hidden: 1 x 1 convolutions at ``num_feat`` channels between the two (3).
        init_scale: Kaiming initialisation of the convolutions times this (1). ClassSR's 0.1 leaves
            the initial logits almost the same for every patch (their spread across patches 2e-7),
            and training from it collapsed onto one class on one of two seeds (docs/results.md,
            "Table 1").
    """

    def __init__(self, num_in_ch: int = 3, num_classes: int = 3, num_feat: int = 128, num_out_feat: int = 32,
                 num_hidden: int = 3, init_scale: float = 1.) -> None:
        super().__init__()
        layers = [nn.Conv2d(num_in_ch, num_feat, 4, 4), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(num_hidden):
            layers += [nn.Conv2d(num_feat, num_feat, 1), nn.LeakyReLU(0.1, inplace=True)]
        layers.append(nn.Conv2d(num_feat, num_out_feat, 1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(num_out_feat, num_classes)
        default_init_weights([self.features], init_scale)
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean((2, 3)))

    def flops(self, height: int, width: int) -> int:
        """FLOPs (2 x multiply-accumulates, as the supernets count them) of one ``height x width`` patch."""
        positions = (height // 4) * (width // 4)
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        total = sum(2 * conv.in_channels * conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1] * positions
                    for conv in convs)
        return total + 2 * self.head.in_features * self.head.out_features

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
