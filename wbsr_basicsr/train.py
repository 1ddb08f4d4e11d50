"""Train with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/train.py``)::

    python wbsr_basicsr/train.py -opt options/train/<name>.yml [--auto_resume] [--debug]
    torchrun --nproc_per_node=N wbsr_basicsr/train.py -opt ... --launcher pytorch
"""
from os import path as osp

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.train import train_pipeline

if __name__ == '__main__':
    train_pipeline(osp.abspath(osp.join(__file__, osp.pardir, osp.pardir)))
