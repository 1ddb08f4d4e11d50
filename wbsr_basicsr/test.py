"""Test with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/test.py``)::

    python wbsr_basicsr/test.py -opt options/test/<name>.yml
"""
from os import path as osp

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.test import test_pipeline

if __name__ == '__main__':
    test_pipeline(osp.abspath(osp.join(__file__, osp.pardir, osp.pardir)))
