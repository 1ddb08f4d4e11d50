"""WBSR (NeurIPS 2024, "Rethinking Imbalance in Image Super-Resolution for Efficient Inference")
as a BasicSR plugin.

Importing this package first applies the BasicSR 1.4.2 compatibility fixes
(:mod:`wbsr_basicsr.compat`), then registers the WBSR architectures, datasets, losses and
models in BasicSR's registries.
"""
from wbsr_basicsr import compat

compat.install()

from wbsr_basicsr import archs, data, losses, models  # noqa: E402,F401  (registers components)

__version__ = '0.1.0'
