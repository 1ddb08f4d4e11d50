"""WBSR losses: every `*_loss.py` file here is imported and registers itself in BasicSR."""
from wbsr_basicsr.registration import import_components

_modules = import_components(__name__, __file__, '_loss')
