"""Super-resolve your own LR images with a WBSR checkpoint, at a chosen share of the time or FLOPs.

    wbsr-infer -i photo.png                          # the shipped x4 model, full network, into results/
    wbsr-infer -i photos/ -o out/ -n WBSR_MSRResNet_x2_291 --target-time 0.65
    wbsr-infer -i photos/ -o out/ --model net_g_latest.pth --target 0.65
    wbsr-infer -i a.png -o r --model M --full -s 3 -t 64 --tile_pad 10 -g 0     # Real-ESRGAN's spellings
    wbsr-infer --list-models

One of: ``--full`` (the default: one network on the whole image, as plain BasicSR),
``--subnet W,D``, ``--target-time R`` (R x the full network's measured time), ``--target R`` (R x
its FLOPs; ``--scope image``: every image, ``folder``: over all inputs, hard images taking more),
``--ceil`` (Eq. 15), ``--alpha A`` (Eq. 16), or ``--row YAML`` (any inference row of
``val.rows``, e.g. ``"{mode: arm, target: 0.5}"``). Inputs: PNG, JPEG, ... 8- or 16-bit, grey,
colour or with alpha; unreadable or truncated files are skipped and listed (exit status 1).
Outputs ``<name>_<suffix>.<ext>`` are planned before anything runs (no output replaces an input
or another output) and written whole or not at all. Per image it prints the size, seconds and
the share of the full network's FLOPs on the whole image. See docs/inference.md.
"""
import argparse
import sys
from typing import List, Optional

from wbsr_cli import program

LADDERS = ('full', 'pareto')
"""The ladders of ``wbsr_basicsr.routing.gradient_router`` (kept here so that parsing imports no torch)."""


def parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-i', '--input', help='an LR image or a folder of them')
    parser.add_argument('-o', '--output', default='results', help='the folder for the SR images (default: results)')
    model = parser.add_mutually_exclusive_group()
    model.add_argument('-n', '--model-name', help='a shipped model (--list-models; default: the x4 one)')
    model.add_argument('--model', '--model_path', dest='model', help='a WBSR checkpoint file (net_g_*.pth)')
    parser.add_argument('--list-models', action='store_true', help='print the shipped models and exit')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--full', action='store_true', help='the full network on the whole image (the default)')
    mode.add_argument('--subnet', help='one subnet W,D on the whole image, e.g. 52,8')
    mode.add_argument('--target-time', type=float, help="share of the full network's time on the whole image, in "
                                                          '(0, 1] (measured on this device: docs/inference.md)')
    mode.add_argument('--target', type=float, help="share of the full network's FLOPs, in (0, 1]")
    mode.add_argument('--ceil', action='store_true', help="Eq. 15: class k to subnet ceil(kM/K)")
    mode.add_argument('--alpha', type=float, help='Eq. 16 with this alpha')
    mode.add_argument('--row', help='any inference row as YAML, e.g. "{mode: arm, target: 0.5}" (docs/routing.md)')
    parser.add_argument('--scope', choices=('image', 'folder'),
                        help='where --target or --target-time holds: every image or the whole folder (default: '
                             'image; for --target-time on a folder, folder)')
    parser.add_argument('--units', help='the routing units --target-time weighs, comma-separated: image, tile<T> '
                                        '(tiles of T LR pixels), patch (default: image,tile160; '
                                        'docs/routing.md, "Plans")')
    parser.add_argument('--flops', choices=('image', 'patch'),
                        help='what --target counts: every FLOP run on the image, overlapping patches included '
                             "(image, default), or the paper's per-patch average (patch)")
    parser.add_argument('--ladder', choices=LADDERS,
                        help='subnets the router climbs (default: pareto if the checkpoint has a calibration, else full)')
    device = parser.add_mutually_exclusive_group()
    device.add_argument('--device', default='auto', help='auto (default: CUDA when there is a GPU, else the CPU), '
                                                         'cpu or cuda[:N]')
    device.add_argument('-g', '--gpu-id', type=int, help='the CUDA device N (the same as --device cuda:N)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--fp16', dest='fp16', action='store_const', const=True,
                           help='half precision under CUDA autocast (the default on CUDA)')
    precision.add_argument('--fp32', dest='fp16', action='store_const', const=False,
                           help='full precision on CUDA too')
    parser.add_argument('--max-batch', type=int, default=32, help='patches per forward: bounds memory (default 32)')
    parser.add_argument('-t', '--tile', type=int, help='--full, --subnet (and --target-time when it runs one subnet): '
                                                       'the whole image in tiles of this many LR pixels (bounds '
                                                       'memory; 0: no tiles; default: tiles only where the time '
                                                       "profile measured them faster, on large images)")
    parser.add_argument('--tile-pad', '--tile_pad', dest='tile_pad', type=int,
                        help='LR pixels of margin around each tile, cropped off its output (default 10)')
    parser.add_argument('--pre-pad', '--pre_pad', dest='pre_pad', type=int, default=0,
                        help='LR pixels of reflected border added at the bottom and right before the network and '
                             'cropped off after (default 0)')
    parser.add_argument('-s', '--outscale', type=float,
                        help="the output's scale, if not the network's: the SR image is resized to it (Lanczos)")
    parser.add_argument('--save-map', action='store_true', help="also write each image's allocation map")
    parser.add_argument('--suffix', default='wbsr', help='appended to output names (default wbsr; "" for none)')
    parser.add_argument('--ext', default='auto', help='output format: auto (the input\'s), png, jpg, tif, webp')
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    return parser


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    args = parser(prog).parse_args(argv)
    if not args.list_models and args.input is None:
        parser(prog).error('the following arguments are required: -i/--input (or --list-models)')
    from wbsr_cli.jobs.infer import run
    return run(args, program(prog))


if __name__ == '__main__':
    sys.exit(main())
