"""BasicSR's testing pipeline with the WBSR components registered, run as ``basicsr/test.py`` is::

    python wbsr_basicsr/test.py -opt options/test/<name>.yml

(outputs under the checkout). The command, its arguments and ``wbsr-test``: ``wbsr_cli/pipelines.py``.
"""
import sys
from os import path as osp

from wbsr_cli.pipelines import test

if __name__ == '__main__':
    sys.exit(test(osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))))  # the repository root, as in BasicSR
