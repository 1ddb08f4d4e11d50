"""BasicSR's training pipeline with the WBSR components registered, run as ``basicsr/train.py`` is::

    python wbsr_basicsr/train.py -opt options/train/<name>.yml

(outputs under the checkout). The command, its arguments and ``wbsr-train``: ``wbsr_cli/pipelines.py``.
"""
import sys
from os import path as osp

from wbsr_cli.pipelines import train

if __name__ == '__main__':
    sys.exit(train(osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))))  # the repository root, as in BasicSR
