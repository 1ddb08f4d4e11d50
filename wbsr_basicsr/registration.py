"""Import every component file of a sub-package so that it registers in BasicSR's registries.

BasicSR and its plugins (HAT, Real-ESRGAN) import each ``*_arch.py``, ``*_dataset.py``,
``*_loss.py`` and ``*_model.py`` file of a sub-package when the sub-package is imported;
each such file registers its classes with ``@XXX_REGISTRY.register()``.
"""
import importlib
from os import path as osp
from types import ModuleType
from typing import List

from basicsr.utils import scandir


def import_components(package: str, package_file: str, suffix: str) -> List[ModuleType]:
    """Import the modules named ``*{suffix}.py`` beside ``package_file`` as ``package.<name>``."""
    folder = osp.dirname(osp.abspath(package_file))
    names = sorted(osp.splitext(name)[0] for name in scandir(folder) if name.endswith(f'{suffix}.py'))
    return [importlib.import_module(f'{package}.{name}') for name in names]
