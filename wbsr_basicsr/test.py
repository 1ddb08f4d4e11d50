"""Test with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/test.py``)::

    python wbsr_basicsr/test.py -opt options/test/<name>.yml
"""
import os
from os import path as osp

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.test import test_pipeline

if __name__ == '__main__':
    # experiments/ and results/ go under the repository root, as in BasicSR, or under $WBSR_ROOT.
    test_pipeline(os.environ.get('WBSR_ROOT') or osp.abspath(osp.join(__file__, osp.pardir, osp.pardir)))
