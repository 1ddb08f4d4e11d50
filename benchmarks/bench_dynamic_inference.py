"""Dynamic inference against one forward of the full network on the same LR image.

Chops a real photo (scikit-image's bundled ``astronaut``, or ``--image``) into 32 x 32 patches
(stride 28), routes them with the ``target_flops`` rule to the requested FLOPs ratio, runs every
subnet's patches as batches and merges; times that against the full network on the whole
image, interleaved. Prints the FLOPs ratio (per-patch convention, router cost apart) and the
time ratio; the target is time ratio <= 1.15 x FLOPs ratio. Weights are random: speed only.

    python benchmarks/bench_dynamic_inference.py [--lr-size 256] [--target 0.65] [--device cpu|cuda]
"""
import argparse

import cv2
import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from timing import interleaved_medians
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.models.dynamic_inference import (PatchLayout, alpha_for_target, chop, merge, patch_classes,
                                                   route_budget, run_routed)
from wbsr_basicsr.utils.gradient_stats import (assign_classes, class_thresholds, difficulty_scores,
                                               patch_gradient_vectors)


def load_lr(args: argparse.Namespace) -> torch.Tensor:
    if args.image:
        rgb = cv2.cvtColor(cv2.imread(args.image), cv2.COLOR_BGR2RGB)
    else:
        from skimage import data
        rgb = data.astronaut()
    rgb = cv2.resize(rgb, (args.lr_size, args.lr_size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--image', help='an image file (default: scikit-image astronaut)')
    parser.add_argument('--lr-size', type=int, default=256, help='side of the square LR image')
    parser.add_argument('--target', type=float, default=0.65, help='target FLOPs ratio of the full network')
    parser.add_argument('--max-batch', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = WBSRMSRResNet().to(device).eval()
    image = load_lr(args).to(device)
    layout = PatchLayout.cover(image.shape[-2], image.shape[-1], 32, 28)
    patches = chop(image, layout)
    # Thresholds from this image's own patches stand in for the training distribution here.
    scores = difficulty_scores(patch_gradient_vectors(patches)).cpu().numpy()
    thresholds = class_thresholds(scores, 10)
    costs = np.array([net.flops(s) for s in net.subnets], dtype=np.float64)
    classes = assign_classes(scores, thresholds)
    alpha = alpha_for_target(classes, 10, costs, args.target)
    subnet_ids = route_budget(classes, 10, costs, alpha)
    flops_ratio = costs[subnet_ids].mean() / costs.max()

    def dynamic() -> torch.Tensor:
        tiles = chop(image, layout)
        ids = route_budget(patch_classes(tiles, thresholds), 10, costs, alpha)
        return merge(run_routed(net, tiles, ids, args.max_batch), layout, net.upscale)

    def full() -> torch.Tensor:
        with torch.no_grad():
            return net(image)

    full_s, dynamic_s = interleaved_medians([full, dynamic], device, args.repeats)
    usage = np.bincount(subnet_ids, minlength=len(costs))
    print(f'device={device} threads={torch.get_num_threads()} LR {args.lr_size}x{args.lr_size}, '
          f'{len(patches)} patches, target {args.target}, alpha {alpha:.3f}')
    print('subnet usage: ' + ', '.join(f'{s}: {n}' for s, n in zip(net.subnets, usage)))
    print(f'FLOPs ratio (per 32x32 patch): {flops_ratio:.3f}   full {full_s:.3f} s   dynamic {dynamic_s:.3f} s   '
          f'time ratio {dynamic_s / full_s:.3f}   time / FLOPs ratio {dynamic_s / full_s / flops_ratio:.3f}')
    print(f'(patches overlap: {len(patches) * 32 * 32 / (args.lr_size**2):.3f} x the image pixels are processed)')


if __name__ == '__main__':
    main()
