"""Dynamic inference against one forward of the full network on the same LR image.

Takes a real photo (scikit-image's bundled ``astronaut``, or ``--image``) resized to a 2K-size
LR input (``--lr-size``, default 480: 1920 pixels at x4), runs WBSRModel's inference path
(:func:`wbsr_basicsr.models.dynamic_inference.infer_image`: chop, score, route with the
``target_flops`` rule, run every subnet's patches as batches, merge) and times it against the
full network on the whole image, interleaved. Prints the FLOPs ratio (per-patch convention,
router cost apart), the time ratio and their quotient; target: time ratio <= 1.15 x FLOPs ratio.
Weights are random (speed only); thresholds come from this image's own patches.

    python benchmarks/bench_dynamic_inference.py [--arch MSRResNet|RCAN] [--lr-size 480] [--stride 28]
        [--target 0.65] [--device cpu|cuda]
"""
import argparse

import cv2
import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from timing import interleaved_medians
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.archs.wbsr_rcan_arch import WBSRRCAN
from wbsr_basicsr.models.dynamic_inference import InferenceRow, Routing, infer_image
from wbsr_basicsr.models.patches import PatchLayout, chop
from wbsr_basicsr.routing.gradient_router import Router
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors


def load_lr(args: argparse.Namespace) -> torch.Tensor:
    if args.image:
        rgb = cv2.cvtColor(cv2.imread(args.image), cv2.COLOR_BGR2RGB)
    else:
        from skimage import data
        rgb = data.astronaut()
    rgb = cv2.resize(rgb, (args.lr_size, args.lr_size), interpolation=cv2.INTER_CUBIC)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--image', help='an image file (default: scikit-image astronaut)')
    parser.add_argument('--arch', choices=('MSRResNet', 'RCAN'), default='MSRResNet')
    parser.add_argument('--lr-size', type=int, default=480, help='side of the square LR image')
    parser.add_argument('--stride', type=int, default=28, help='patch stride (32: no overlap)')
    parser.add_argument('--target', type=float, default=0.65, help='target FLOPs ratio of the full network')
    parser.add_argument('--max-batch', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = (WBSRMSRResNet() if args.arch == 'MSRResNet' else WBSRRCAN()).to(device).eval()
    image = load_lr(args).to(device)
    layout = PatchLayout.cover(image.shape[-2], image.shape[-1], 32, args.stride)
    scores = difficulty_scores(patch_gradient_vectors(chop(image, layout))).cpu().numpy()
    router = Router.from_scores(scores, 10, 32, args.stride)
    row = InferenceRow('target_flops', target=args.target)
    result = infer_image(net, image, row, Routing(router), 32, args.stride, args.max_batch)
    flops_ratio = result.flops_per_patch / net.flops(None, (32, 32))

    def dynamic() -> torch.Tensor:
        return infer_image(net, image, row, Routing(router), 32, args.stride, args.max_batch).sr

    def full() -> torch.Tensor:
        with torch.no_grad():
            return net(image)

    full_s, dynamic_s = interleaved_medians([full, dynamic], device, args.repeats)
    usage = np.bincount(result.subnet_ids, minlength=len(net.subnets))
    processed = len(result.subnet_ids) * 32 * 32 / args.lr_size**2
    print(f'{args.arch} x{net.upscale} device={device} threads={torch.get_num_threads()} LR {args.lr_size}^2, '
          f'{len(result.subnet_ids)} patches (stride {args.stride}: {processed:.3f} x the image pixels), '
          f'target {args.target}')
    print('subnet usage: ' + ', '.join(f'{w}x{d}: {n}' for (w, d), n in zip(net.subnets, usage)))
    print(f'FLOPs ratio (per 32x32 patch, router {result.router_flops_per_patch / 1e9:.5f} G apart): {flops_ratio:.3f}'
          f'   full {full_s:.3f} s   dynamic {dynamic_s:.3f} s   time ratio {dynamic_s / full_s:.3f}   '
          f'time / FLOPs ratio {dynamic_s / full_s / flops_ratio:.3f} (target <= 1.15)')


if __name__ == '__main__':
    main()
