"""The console scripts (``setup.py``), one module per command: ``infer``, ``export``, ``calibrate``,
``plot_frontier``, ``pipelines`` (``wbsr-train``, ``wbsr-test``), ``prepare`` (``wbsr-prepare-div2k``,
``wbsr-prepare-benchmarks``). Each parses its arguments with the standard library alone, so ``--help``
and a mistyped option answer before torch and BasicSR load, then imports its work (:mod:`wbsr_cli.jobs`,
or ``wbsr_basicsr.prepare``). Error lines start with the program's own name (:func:`program`)."""
import os
import sys
from typing import Optional


def program(prog: Optional[str] = None) -> str:
    """The name errors start with: ``prog`` if given, else the name the command was run as."""
    return prog or os.path.basename(sys.argv[0]) or 'wbsr'
