"""Test with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/test.py``)::

    python wbsr_basicsr/test.py -opt options/test/<name>.yml

An option or data error is one line on stderr (exit status 2; ``WBSR_TRACEBACK=1`` for the
traceback), Ctrl-C one line (130).
"""
import os
import sys
from os import path as osp

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.test import test_pipeline
from wbsr_basicsr.cli.errors import one_line_errors

if __name__ == '__main__':
    # experiments/ and results/ go under the repository root, as in BasicSR, or under $WBSR_ROOT.
    root = os.environ.get('WBSR_ROOT') or osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))
    sys.exit(one_line_errors('test.py', lambda: test_pipeline(root),
                             'the images and tables written so far are complete.'))
