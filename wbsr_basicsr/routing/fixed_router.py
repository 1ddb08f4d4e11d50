"""Every patch to one subnet: ``{mode: fixed, subnet: [w, d] | full | all}``, the fixed subnets whose
frontier routing must beat (:mod:`.frontier`); the full one is the paper's WBSR-dagger."""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Group, OneSubnet, RoutingData, register_router


@register_router
@dataclass(frozen=True)
class FixedRouter(OneSubnet):
    """One subnet on every patch, chopped and merged like the routed rows."""

    mode: ClassVar[str] = 'fixed'

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        return np.full(group.count, group.subnets.index(self.subnet), dtype=np.int64)
