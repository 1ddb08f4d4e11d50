"""Train with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/train.py``)::

    python wbsr_basicsr/train.py -opt options/train/<name>.yml [--auto_resume] [--debug]
    torchrun --nproc_per_node=N wbsr_basicsr/train.py -opt ... --launcher pytorch

An option or data error is one line on stderr (exit status 2; ``WBSR_TRACEBACK=1`` for the
traceback), Ctrl-C one line (130).
"""
import os
import sys
from os import path as osp

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.train import train_pipeline
from wbsr_basicsr.cli.errors import one_line_errors

if __name__ == '__main__':
    # experiments/ and results/ go under the repository root, as in BasicSR, or under $WBSR_ROOT.
    root = os.environ.get('WBSR_ROOT') or osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))
    sys.exit(one_line_errors('train.py', lambda: train_pipeline(root),
                             'the saved checkpoints and states are complete; --auto_resume continues from the last.'))
