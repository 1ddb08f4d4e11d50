"""One subnet on the whole image, no patches: ``{mode: whole, subnet: [w, d] | full | all}``, as a plain
BasicSR network runs (the inference command's ``--full`` and ``--subnet``). No chop, no overlap:
its FLOPs are the subnet's on the image."""
from dataclasses import dataclass
from typing import ClassVar

from .base import OneSubnet, register_router


@register_router
@dataclass(frozen=True)
class WholeImage(OneSubnet):
    """The engine runs ``subnet`` on the whole image (:attr:`patchwise` False); nothing to allocate."""

    mode: ClassVar[str] = 'whole'
    patchwise: ClassVar[bool] = False
