"""``wbsr-prepare-div2k`` and ``wbsr-prepare-benchmarks``: the training LMDBs and statistics, and the
benchmark sets (docs/data.md; what each writes: ``wbsr_basicsr/prepare/div2k.py``, ``benchmarks.py``).

    wbsr-prepare-div2k --input datasets/DIV2K --output datasets/DIV2K --scales 2 4
    wbsr-prepare-benchmarks --input datasets/raw --output datasets [--div8k datasets/raw/DIV8K] [--lmdb]

``datasets_prep/prepare_div2k.py`` and ``prepare_benchmarks.py`` run the same. A bad input or an
unwritable output is one ``error:`` line (exit status 1); ``--skip-bad`` logs and skips bad images.
"""
import argparse
import os
from typing import Optional, Sequence


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} must be at least 1')
    return value


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options both preparations take: worker processes and skipping bad images."""
    parser.add_argument('--workers', type=positive_int, default=max(1, min(4, os.cpu_count() or 1)),
                        help='worker processes')
    parser.add_argument('--skip-bad', action='store_true', help='log and skip bad images instead of stopping')


def div2k_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='DIV2K (or any folder of HR photos) -> BasicSR LMDBs + HES statistics + BDLoss prior '
                    '(docs/data.md).', formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--input', required=True, help='DIV2K root holding the HR (and optional LR) folders')
    parser.add_argument('--output', default='datasets/DIV2K', help='folder for the LMDBs and statistics')
    parser.add_argument('--scales', type=int, nargs='+', default=[4], help='SR scales (2, 3, 4)')
    parser.add_argument('--hr-folder', default='DIV2K_train_HR', help='HR folder inside --input')
    parser.add_argument('--lr-folder', default='DIV2K_train_LR_bicubic',
                        help='official LR folder inside --input (X2/, X3/, X4/); absent scales are generated')
    parser.add_argument('--crop-size', type=int, default=480, help='HR sub-image side')
    parser.add_argument('--step', type=int, default=240, help='HR sub-image step')
    parser.add_argument('--thresh-size', type=int, default=48,
                        help='add a border sub-image when more than this many pixels remain')
    parser.add_argument('--compress-level', type=int, default=1, help='PNG compression inside the LMDBs')
    parser.add_argument('--gt-size', type=int, default=128, help='training GT patch; HES patches are gt/scale')
    parser.add_argument('--hes-stride', type=int, default=None, help='HES candidate grid stride in LR pixels '
                        '(default: half the LR patch)')
    parser.add_argument('--routing-patch', type=int, default=32, help='LR patch side that dynamic inference routes')
    parser.add_argument('--routing-stride', type=int, default=28, help='LR stride of the routed patches')
    parser.add_argument('--num-classes', type=int, default=10, help='K of Eq. 7')
    parser.add_argument('--gmm-components', type=int, default=8, help='Gaussian components of the prior')
    parser.add_argument('--gmm-samples', type=int, default=200_000, help='HR values the prior is fitted on')
    parser.add_argument('--seed', type=int, default=0)
    add_run_options(parser)
    return parser


def benchmarks_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Benchmark sets -> GTmod12 / LRbicx{s} folders (BasicSR layout; '
                                                 'docs/data.md).',
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--input', help='folder of sets: each subfolder of HR images is one (Set5, Set14, ... or '
                                        'your own)')
    parser.add_argument('--div8k', help='DIV8K HR folder (1201.png ... 1500.png) for Test2K / Test4K / Test8K')
    parser.add_argument('--output', default='datasets', help='where the sets are written')
    parser.add_argument('--scales', type=int, nargs='+', default=[2, 3, 4])
    parser.add_argument('--lmdb', action='store_true', help='also pack every folder into a BasicSR LMDB')
    add_run_options(parser)
    return parser


def div2k(argv: Optional[Sequence[str]] = None) -> int:
    """``wbsr-prepare-div2k``."""
    args = div2k_parser().parse_args(argv)
    from wbsr_basicsr.prepare.common import run_cli
    from wbsr_basicsr.prepare.div2k import run
    return run_cli(run, args)


def benchmarks(argv: Optional[Sequence[str]] = None) -> int:
    """``wbsr-prepare-benchmarks``."""
    args = benchmarks_parser().parse_args(argv)
    from wbsr_basicsr.prepare.benchmarks import run
    from wbsr_basicsr.prepare.common import run_cli
    return run_cli(run, args)
