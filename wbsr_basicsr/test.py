"""Test with BasicSR's own pipeline and the WBSR components registered.

Usage (exactly like ``basicsr/test.py``)::

    python wbsr_basicsr/test.py -opt options/test/<name>.yml
    wbsr-test -opt options/test/<name>.yml        (installed; results/ in the working folder)

An option or data error is one line on stderr (exit status 2; ``WBSR_TRACEBACK=1`` for the
traceback), Ctrl-C one line (130).
"""
import os
import sys
from os import path as osp
from typing import Optional

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.test import test_pipeline
from wbsr_basicsr.cli.errors import one_line_errors
from wbsr_cli import program


def main(root: Optional[str] = None) -> int:
    """BasicSR's test_pipeline under ``root``: results/ go there (``$WBSR_ROOT`` first; the working
    folder for ``wbsr-test``)."""
    root = os.environ.get('WBSR_ROOT') or root or os.getcwd()
    return one_line_errors(program(), lambda: test_pipeline(root), 'the images and tables written so far are complete.')


if __name__ == '__main__':
    sys.exit(main(osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))))  # the repository root, as in BasicSR
