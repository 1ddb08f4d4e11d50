"""``wbsr-train`` and ``wbsr-test``: BasicSR's own training and test pipelines with the WBSR components
registered, taking BasicSR's arguments (``basicsr/utils/options.py``'s ``parse_options``)::

    wbsr-train -opt options/train/<name>.yml [--auto_resume] [--debug]    (experiments/ here)
    wbsr-test -opt options/test/<name>.yml                                 (results/ here)
    torchrun --nproc_per_node=N wbsr_basicsr/train.py -opt ... --launcher pytorch

``python wbsr_basicsr/train.py`` and ``wbsr_basicsr/test.py`` run the same, as ``basicsr/train.py``
does, with experiments/ and results/ in the checkout. An option or data error is one line on
stderr (exit status 2; ``WBSR_TRACEBACK=1`` for the traceback), Ctrl-C one line (130).
"""
import argparse
import os
from typing import Optional

from wbsr_cli import program


def parser(prog: Optional[str] = None, description: Optional[str] = None) -> argparse.ArgumentParser:
    """BasicSR's arguments, checked here before torch loads; BasicSR then reads them again."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument('-opt', required=True, help='the option file (YAML)')
    parser.add_argument('--launcher', choices=('none', 'pytorch', 'slurm'), default='none',
                        help='how the processes were started (pytorch: torchrun)')
    parser.add_argument('--auto_resume', action='store_true', help='continue from the newest training state')
    parser.add_argument('--debug', action='store_true', help="BasicSR's debug run (names the experiment debug_*)")
    parser.add_argument('--local_rank', type=int, default=0, help="this process's rank on the node (launchers)")
    parser.add_argument('--force_yml', nargs='+', help='option overrides, e.g. train:ema_decay=0.999')
    return parser


def run_pipeline(stage: str, root: Optional[str]) -> int:
    """Check the command line's arguments, then run BasicSR's ``stage`` pipeline (train or test), which
    reads them again, under ``root`` (``$WBSR_ROOT`` first, else the working folder): experiments/ or
    results/ go there."""
    parser(program(), f'BasicSR {stage}ing with the WBSR components registered.').parse_args()
    root = os.environ.get('WBSR_ROOT') or root or os.getcwd()
    from wbsr_cli.jobs.pipelines import run
    return run(stage, root, program())


def train(root: Optional[str] = None) -> int:
    """``wbsr-train``: BasicSR's ``train_pipeline``."""
    return run_pipeline('train', root)


def test(root: Optional[str] = None) -> int:
    """``wbsr-test``: BasicSR's ``test_pipeline``."""
    return run_pipeline('test', root)

