"""WBSR data: every `*_dataset.py` file here is imported and registers itself in BasicSR."""
from wbsr_basicsr.registration import import_components

_modules = import_components(__name__, __file__, '_dataset')
