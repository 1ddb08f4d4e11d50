"""The preparation command of ``wbsr_basicsr/prepare/div2k.py``, as a script; also installed as
``wbsr-prepare-div2k``. ``--help`` lists its options."""
import sys

from wbsr_basicsr.prepare.div2k import main

if __name__ == '__main__':
    sys.exit(main())
