"""Super-resolve your own LR images with a WBSR checkpoint; also installed as ``wbsr-infer``.
The arguments are in ``wbsr_cli/infer.py``; ``--help`` lists them."""
import sys
from typing import List, Optional

from wbsr_cli import infer


def main(argv: Optional[List[str]] = None) -> int:
    return infer.main(argv, prog='inference_wbsr.py')


if __name__ == '__main__':
    sys.exit(main())
