"""Patch samplers of the paired dataset: every ``*_sampler.py`` file here registers one (base.py)."""
from wbsr_basicsr.registration import import_components

from .base import (NOT_A_CANDIDATE, SAMPLER_REGISTRY, Candidates, PatchSampler, build_sampler, register_sampler,
                   sampler_class, sampler_options)

_modules = import_components(__name__, __file__, '_sampler')

__all__ = ['NOT_A_CANDIDATE', 'SAMPLER_REGISTRY', 'Candidates', 'PatchSampler', 'build_sampler', 'register_sampler',
           'sampler_class', 'sampler_options']
