"""Budget scopes: the groups of images over which a row's FLOPs target holds (docs/routing.md, "Budgets").

A row with a ``target`` allocates its subnets over one group of images at a time: the engine
(:mod:`wbsr_basicsr.inference.engine`) measures every patch of a group, then the router spends the
target over all of them. ``image``: every image is its own group; ``dataset``: the whole set is one
group (a first pass measures every image). A new scope is one more entry of :data:`SCOPES`.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List

DEFAULT_SCOPE = 'dataset'
"""Measured best at equal FLOPs on held-out photos (docs/results.md, "Budget scopes")."""


def each_image(count: int) -> List[range]:
    return [range(index, index + 1) for index in range(count)]


def whole_set(count: int) -> List[range]:
    return [range(count)] if count else []


@dataclass(frozen=True)
class Scope:
    """A grouping of the ``count`` images of a set, in order; ``generic`` scopes hold for every
    router with a target, the others only for the routers that name them (``Router.own_scopes``)."""

    name: str
    groups: Callable[[int], List[range]]
    generic: bool = True

    def spans_images(self, count: int) -> bool:
        """Whether a group holds more than one image (the engine then allocates in a first pass)."""
        return any(len(group) > 1 for group in self.groups(count))


SCOPES: Dict[str, Scope] = {
    'image': Scope('image', each_image),
    'dataset': Scope('dataset', whole_set),
    # Eq. 16's alpha fixed beforehand on the training patches: the paper's reading, per image.
    'train': Scope('train', each_image, generic=False),
}
