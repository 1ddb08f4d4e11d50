"""Calibrate the routing of a trained WBSR supernet, stored in its checkpoint; also ``wbsr-calibrate``.
The arguments are in ``wbsr_cli/calibrate.py``; ``--help`` lists them."""
import sys
from typing import List, Optional

from wbsr_cli import calibrate


def main(argv: Optional[List[str]] = None) -> int:
    return calibrate.main(argv, prog='calibrate_routing.py')


if __name__ == '__main__':
    sys.exit(main())
