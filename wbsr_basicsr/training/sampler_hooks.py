"""What the model runs around its optimizer steps for a patch sampler, by the sampler's ``type``.

A sampler whose method changes training itself (BSPA) has its hook here; the model
(``HESSRModel``) builds it from the dataset's ``sampler:`` block.
"""
from typing import Callable, Dict, Optional, Protocol

from wbsr_basicsr.data.sampling import sampler_class, sampler_options

from .parameter_protection import ParameterProtection


class TrainingHook(Protocol):
    """Runs around each of the model's optimizer steps, on BasicSR's 1-based iteration."""

    def before_step(self, model, iteration: int) -> None:
        ...

    def after_step(self, model, iteration: int) -> None:
        ...


SAMPLER_HOOKS: Dict[str, Callable[..., TrainingHook]] = {'BSPA': ParameterProtection}


def sampler_hook(block: Optional[dict], total_iter: int) -> Optional[TrainingHook]:
    """The hook of the sampler a ``sampler:`` block names (none for most), built from its options."""
    if not block:
        return None
    hook = SAMPLER_HOOKS.get(sampler_class(block).type)
    return hook(sampler_options(block), total_iter) if hook else None
