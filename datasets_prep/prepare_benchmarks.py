"""The preparation command of ``wbsr_basicsr/prepare/benchmarks.py``, as a script; also installed as
``wbsr-prepare-benchmarks``. ``--help`` lists its options."""
import sys

from wbsr_basicsr.prepare.benchmarks import main

if __name__ == '__main__':
    sys.exit(main())
