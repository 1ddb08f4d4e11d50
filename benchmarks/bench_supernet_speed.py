"""Time the supernet's full subnet against the plain BasicSR network: same weights, same input.

Runs are interleaved (plain, supernet, plain, ...) so machine noise hits both alike; the
figure of merit is the ratio of medians (target: at most 1.05). With ``--subnets`` it also
times every subnet and prints its time ratio next to its FLOPs ratio.

    python benchmarks/bench_supernet_speed.py [--device cpu|cuda] [--repeats 15] [--subnets]
"""
import argparse
from typing import List, Tuple

import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from basicsr.archs.rcan_arch import RCAN
from basicsr.archs.srresnet_arch import MSRResNet
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.archs.wbsr_rcan_arch import WBSRRCAN

CASES = {
    # name: (plain network, supernet, LR sizes on the CPU, LR sizes on a GPU)
    'MSRResNet x4': (lambda: MSRResNet(num_feat=64, num_block=16, upscale=4), WBSRMSRResNet, (64, 256), (64, 512)),
    'RCAN x4': (lambda: RCAN(3, 3, num_group=10, num_block=20), WBSRRCAN, (64, 128), (64, 256)),
}


def bench_case(name: str, device: torch.device, repeats: int, with_subnets: bool) -> List[Tuple]:
    make_plain, supernet_cls, cpu_sizes, gpu_sizes = CASES[name]
    torch.manual_seed(0)
    plain = make_plain().to(device).eval()
    supernet = supernet_cls().to(device).eval()
    supernet.load_state_dict(plain.state_dict(), strict=True)
    rows = []
    for size in (gpu_sizes if device.type == 'cuda' else cpu_sizes):
        x = torch.rand(1, 3, size, size, device=device)
        with torch.inference_mode():
            plain_s, super_s = interleaved_medians([lambda: plain(x), lambda: supernet(x)], device, repeats)
            rows.append((name, f'1x3x{size}x{size}', 'full vs plain', plain_s, super_s, super_s / plain_s, 1.0))
            if with_subnets:
                rows += subnet_rows(name, supernet, x, size, plain_s, device, repeats)
    return rows


def subnet_rows(name, supernet, x, size, full_s, device, repeats) -> List[Tuple]:
    rows = []
    for subnet in supernet.subnets[:-1]:
        with supernet.subnet(subnet):
            (sub_s, ) = interleaved_medians([lambda: supernet(x)], device, repeats)
        flops_ratio = supernet.flops(subnet) / supernet.flops()
        rows.append((name, f'1x3x{size}x{size}', f'subnet {subnet}', full_s, sub_s, sub_s / full_s, flops_ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=15, help='timed runs per network and size')
    parser.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    parser.add_argument('--subnets', action='store_true', help='also time every subnet against the full one')
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f'device={device} torch={torch.__version__} threads={torch.get_num_threads()} repeats={args.repeats}')
    print(f"{'network':<14}{'input':<16}{'what':<22}{'ref s':>10}{'timed s':>10}{'time ratio':>12}{'FLOPs ratio':>13}")
    for name in args.cases:
        for row in bench_case(name, device, args.repeats, args.subnets):
            print(f'{row[0]:<14}{row[1]:<16}{row[2]:<22}{row[3]:>10.4f}{row[4]:>10.4f}{row[5]:>12.3f}{row[6]:>13.3f}',
                  flush=True)


if __name__ == '__main__':
    main()
