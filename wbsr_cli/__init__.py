"""The commands' entry points (``wbsr-infer``, ``wbsr-train``, ...), kept light: each parses its
arguments before torch and BasicSR are imported, so ``--help`` and a mistyped option answer at
once; the work is then imported from ``wbsr_basicsr`` (its ``cli`` package, ``train``, ``test``,
``prepare``). Error lines start with the program's own name (:func:`program`)."""
import os
import sys
from typing import Optional


def program(prog: Optional[str] = None) -> str:
    """The name errors start with: ``prog`` if given, else the name the command was run as."""
    return prog or os.path.basename(sys.argv[0]) or 'wbsr'
