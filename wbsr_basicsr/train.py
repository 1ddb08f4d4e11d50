"""Train with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/train.py``)::

    python wbsr_basicsr/train.py -opt options/train/<name>.yml [--auto_resume] [--debug]
    wbsr-train -opt options/train/<name>.yml      (installed; experiments/ in the working folder)
    torchrun --nproc_per_node=N wbsr_basicsr/train.py -opt ... --launcher pytorch

An option or data error is one line on stderr (exit status 2; ``WBSR_TRACEBACK=1`` for the
traceback), Ctrl-C one line (130).
"""
import os
import sys
from os import path as osp
from typing import Optional

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.train import train_pipeline
from wbsr_basicsr.cli.errors import one_line_errors
from wbsr_cli import program


def main(root: Optional[str] = None) -> int:
    """BasicSR's train_pipeline under ``root``: experiments/ go there (``$WBSR_ROOT`` first; the
    working folder for ``wbsr-train``)."""
    root = os.environ.get('WBSR_ROOT') or root or os.getcwd()
    return one_line_errors(program(), lambda: train_pipeline(root),
                           'the saved checkpoints and states are complete; --auto_resume continues from the last.')


if __name__ == '__main__':
    sys.exit(main(osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))))  # the repository root, as in BasicSR
