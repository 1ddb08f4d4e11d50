"""Train with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/train.py``)::

    python wbsr_basicsr/train.py -opt options/train/<name>.yml [--auto_resume] [--debug]
    torchrun --nproc_per_node=N wbsr_basicsr/train.py -opt ... --launcher pytorch
"""
import os
from os import path as osp

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.train import train_pipeline

if __name__ == '__main__':
    # experiments/ and results/ go under the repository root, as in BasicSR, or under $WBSR_ROOT.
    train_pipeline(os.environ.get('WBSR_ROOT') or osp.abspath(osp.join(__file__, osp.pardir, osp.pardir)))
