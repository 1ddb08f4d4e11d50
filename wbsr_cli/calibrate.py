"""Calibrate the routing of a trained WBSR supernet and store it in the checkpoint.

    wbsr-calibrate (or python scripts/calibrate_routing.py) --model experiments/<name>/models/net_g_latest.pth \\
        --gt datasets/DIV2K/DIV2K_train_HR_sub.lmdb --lq datasets/DIV2K/DIV2K_train_LR_bicubic_X4_sub.lmdb \\
        [--max-images N] [--output calibrated.pth] [-opt train_options.yml] [--device cuda [--fp16]]
    wbsr-calibrate --model net_g_latest.pth --time-only --device cuda --fp16
    wbsr-calibrate -n WBSR_MSRResNet_x4_291 --time-only --output mine.pth     # a shipped model, this device
    wbsr-calibrate --model net_g_latest.pth --gt HR/ --lq LR/ --routing-only   # keep the time profiles

Every subnet runs on every LR patch of the pairs (``--gt`` / ``--lq``: two LMDBs, or two folders
of images with the same names); each patch's PSNR under each subnet gives ARM's edge-score
table (rows ``{mode: arm, target: R}``), the Pareto ladder (``ladder: pareto``) and the quality model
the time budgets plan with. Use photos disjoint from the sets you will test on and from the ones the
network was trained on: on its training photos a network's larger subnets gain what they memorised
(docs/routing.md, "Predicting quality"). Then each subnet is timed on ``--device`` (a time profile,
for budgets in time: ``--target-time``, ``budget_unit: time``); ``--time-only`` adds or renews that
device's profile alone, ``--routing-only`` the calibration alone. Both go into the
checkpoint's ``wbsr`` entry (``--output``, default: the checkpoint itself, rewritten
atomically; a shipped model, ``-n``, needs ``--output``); the calibration is valid for those
parameters only, the profile for that device.
"""
import argparse
import sys
from typing import List, Optional

from wbsr_cli import program


def parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument('--model', help='a WBSR checkpoint (net_g_*.pth)')
    model.add_argument('-n', '--model-name', help='a shipped model (wbsr-infer --list-models)')
    parser.add_argument('--gt', help='HR images: an LMDB or a folder')
    parser.add_argument('--lq', help='their LR images: an LMDB or a folder')
    parser.add_argument('--output', help='where to write the calibrated checkpoint (default: --model)')
    parser.add_argument('--max-images', type=int, help='use this many images, evenly spaced (default: all)')
    parser.add_argument('--param-key', default='params', help="the checkpoint's parameters to calibrate")
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    parser.add_argument('--max-batch', type=int, default=256, help='patches per forward')
    parser.add_argument('--device', default='cpu', help='where to time the subnets: cpu (default) or cuda[:N]')
    parser.add_argument('--fp16', action='store_true', help='time them in half precision (CUDA autocast)')
    only = parser.add_mutually_exclusive_group()
    only.add_argument('--time-only', action='store_true', help="only (re)measure --device's time profile")
    only.add_argument('--routing-only', action='store_true', help='only (re)measure the routing calibration; keep '
                                                                   'the time profiles')
    return parser


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    command = parser(prog)
    args = command.parse_args(argv)
    if not args.time_only and not (args.gt and args.lq):
        command.error('--gt and --lq are required (unless --time-only).')
    from wbsr_cli.jobs.calibrate import run
    return run(args, program(prog))


if __name__ == '__main__':
    sys.exit(main())
