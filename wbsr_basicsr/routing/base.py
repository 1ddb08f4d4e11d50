"""The router interface: one class per row ``mode``, found in :data:`ROUTER_REGISTRY` (as BasicSR
finds architectures by ``type``).

A router is a frozen dataclass whose fields are the options of its rows (``val.rows`` entries such
as ``{mode: arm, target: 0.65}``, the inference command's flags). For every LR image the engine
(:mod:`wbsr_basicsr.inference.engine`) cuts patches and asks each row's router to

1. :meth:`Router.measure` what it routes by on the patches (difficulty scores, edge scores,
   logits, errors against the GT), once per :attr:`Router.feature` for all rows that share it;
2. :meth:`Router.allocate` a subnet to every patch of a group of images (its scope), under its
   target;
3. report its own cost per patch (:meth:`Router.flops`).

A new router is one file ``routing/<name>_router.py`` holding a subclass decorated with
:func:`register_router`; ``docs/routing.md`` ("Adding a router") has an example.
"""
from dataclasses import dataclass, fields, replace
from typing import ClassVar, Dict, List, Optional, Protocol, Sequence, Tuple, Type, TypeVar

import numpy as np
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.utils.options import check_keys, renamed_keys

from wbsr_basicsr.budgets import BUDGET_UNITS, DEFAULT_BUDGET_UNIT
from .scopes import DEFAULT_SCOPE, SCOPES

Features = Dict[str, np.ndarray]
"""What a router measured on one image's patches: arrays whose first axis runs over the patches."""

Datum = TypeVar('Datum')


@dataclass(frozen=True)
class RoutingData:
    """What routers route by besides the patches, loaded with the network: one object per type (the
    Eq. 7 difficulty classes, the supernet's calibration, a ClassSR classifier, a time profile, ...).
    Routers name the types they need (:meth:`Router.needs`); each type says how to provide it in its
    ``provide`` class attribute, for the errors of rows that lack it (:func:`check_routing`)."""

    items: Tuple[object, ...] = ()
    unusable: Tuple[Tuple[type, str], ...] = ()
    """Per type, why the one loaded is not used (a calibration measured on another network)."""

    @classmethod
    def of(cls, *items: Optional[object], unusable: Optional[Dict[type, str]] = None) -> 'RoutingData':
        """The data holding ``items`` (None: not loaded)."""
        return cls(tuple(item for item in items if item is not None), tuple((unusable or {}).items()))

    def get(self, kind: Type[Datum]) -> Optional[Datum]:
        """The item of type ``kind``, if loaded."""
        return next((item for item in self.items if isinstance(item, kind)), None)

    def why_unusable(self, kind: type) -> Optional[str]:
        return dict(self.unusable).get(kind)

    def with_item(self, item: object) -> 'RoutingData':
        """This data with ``item`` in place of any of its type."""
        return replace(self, items=tuple(old for old in self.items if type(old) is not type(item)) + (item,))


RENAMED_KEYS = {'unit': 'budget_unit'}
"""Row options renamed (old: new); the old names are still read, with a warning."""


@dataclass(frozen=True)
class Group:
    """The patches of one group of images (a scope's group), as a router allocates them."""

    features: Features
    """What the row's router measured, its arrays concatenated over the group's images."""
    count: int
    costs: np.ndarray
    """Each subnet's cost per patch in the row's unit (FLOPs, or seconds), in ``subnets`` order: by
    FLOPs, ascending; in seconds, the full network (the last) the dearest."""
    subnets: Tuple[Subnet, ...]
    target: Optional[float]
    """The row's budget as a ratio of the full network's cost on these patches (None: no budget)."""


class PatchRunner(Protocol):
    """Runs subnets of the supernet on batches of LR patches (:class:`wbsr_basicsr.runtime.runner.Runner`)."""

    max_batch: int
    num_subnets: int

    def run(self, index: int, patches: Tensor) -> Tensor:
        """SR patches of subnet ``net.subnets[index]`` on ``patches`` (one forward; at most ``max_batch``)."""


@dataclass(frozen=True)
class Router:
    """One way to give every LR patch of an image a subnet: the rows of one ``mode``."""

    mode: ClassVar[str] = ''
    title: ClassVar[str] = ''
    """The router's name in legends (default: the mode)."""
    feature: ClassVar[Optional[str]] = None
    """What :meth:`measure` computes; rows whose routers share a feature share one measurement."""
    needs_gt: ClassVar[bool] = False
    patchwise: ClassVar[bool] = True
    """False: the row runs one subnet on the whole image, with no patches (``whole``)."""
    planned: ClassVar[bool] = False
    """True: the engine runs the planner's plans (:mod:`wbsr_basicsr.plans`) for the row's ``units``."""

    def __post_init__(self) -> None:
        """Subclasses check their options here, calling ``super().__post_init__()``."""

    @classmethod
    def from_options(cls, spec: Dict, net: SlimmableSupernet, ladder: str) -> List['Router']:
        """The rows one option entry (without ``mode``) asks for; ``ladder``: the default ladder."""
        spec = renamed_keys(f'{cls.mode} row', spec, RENAMED_KEYS)
        check_keys(f'{cls.mode} row', spec, [field.name for field in fields(cls)])
        return [cls(**spec)]

    @property
    def label(self) -> str:
        """A short name for tables, logs and file names, e.g. ``ceil`` or ``arm_0.65_dataset``."""
        return self.mode

    def needs(self) -> Tuple[type, ...]:
        """The types of :class:`RoutingData` this router routes by."""
        return ()

    def requirements(self) -> Tuple[type, ...]:
        """The types of :class:`RoutingData` this row needs: what its router routes by, and what its
        budget counts in."""
        return self.needs()

    def measure(self, patches: Tensor, gt: Optional[Tensor], data: RoutingData, runner: PatchRunner) -> Features:
        """What this router routes by, for ``(N, C, P, P)`` LR patches in [0, 1] (``gt``: their GT
        patches when :attr:`needs_gt`)."""
        return {}

    def allocate(self, group: 'Group', data: RoutingData) -> np.ndarray:
        """The subnet index (into ``group.subnets``) of every patch of one group of images."""
        raise NotImplementedError

    def flops(self, data: RoutingData, patch_size: int, channels: int) -> float:
        """FLOPs of routing one patch (0 for rows that decide nothing per patch)."""
        return 0.

    @property
    def target(self) -> Optional[float]:
        return None

    @property
    def scope(self) -> Optional[str]:
        return None

    @property
    def budget_unit(self) -> Optional[str]:
        return None


@dataclass(frozen=True)
class BudgetedRouter(Router):
    """A router held to a ``target`` ratio of the full network's cost (in a ``budget_unit`` of
    :data:`.budget_units.BUDGET_UNITS`, default ``patch_flops``) over the groups of a ``scope`` (:mod:`.scopes`; default
    ``dataset``)."""

    target: Optional[float] = None
    scope: Optional[str] = None
    budget_unit: Optional[str] = None
    target_optional: ClassVar[bool] = False
    own_scopes: ClassVar[Tuple[str, ...]] = ()
    """Non-generic scopes this router also takes (``train``: Eq. 16's calibrated alpha)."""
    label_name: ClassVar[str] = ''

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target is None:
            if not self.target_optional:
                raise ValueError(f'Inference mode {self.mode!r} takes a target (a ratio of the full FLOPs).')
            if self.scope is not None or self.budget_unit is not None:
                raise ValueError(f'Inference mode {self.mode!r} takes no scope or budget_unit without a target.')
            return
        if self.budget_unit is None:
            object.__setattr__(self, 'budget_unit', DEFAULT_BUDGET_UNIT)
        if self.budget_unit not in BUDGET_UNITS:
            raise ValueError(f'{self.mode} budget_unit must be one of {tuple(BUDGET_UNITS)}, got {self.budget_unit!r}.')
        if not 0 < self.target <= 1:
            raise ValueError(f'{self.mode} target must lie in (0, 1], got {self.target}.')
        if self.scope is None:
            object.__setattr__(self, 'scope', DEFAULT_SCOPE)
        scopes = tuple(name for name, scope in SCOPES.items() if scope.generic or name in self.own_scopes)
        if self.scope not in scopes:
            raise ValueError(f'{self.mode} scope must be one of {scopes}, got {self.scope!r}.')

    @classmethod
    def from_options(cls, spec: Dict, net: SlimmableSupernet, ladder: str) -> List[Router]:
        """A ``target`` list is a sweep: one row per target."""
        targets = spec.get('target')
        if not isinstance(targets, (list, tuple)):
            return super().from_options(spec, net, ladder)
        rows: List[Router] = []
        for target in targets:
            rows += super().from_options(dict(spec, target=float(target)), net, ladder)
        return rows

    def requirements(self) -> Tuple[type, ...]:
        return self.needs() + (BUDGET_UNITS[self.budget_unit].needs if self.target is not None else ())

    @property
    def label(self) -> str:
        if self.target is None:
            return self.mode
        suffix = BUDGET_UNITS[self.budget_unit].label_suffix
        return f'{self.label_name or self.mode}_{self.target:g}_{self.scope}{suffix}'


ROUTER_REGISTRY: Dict[str, Type[Router]] = {}


def register_router(cls: Type[Router]) -> Type[Router]:
    """Class decorator: register ``cls`` under its ``mode``."""
    if not cls.mode or cls.mode in ROUTER_REGISTRY:
        raise KeyError(f'Router mode {cls.mode!r} is empty or registered already.')
    cls.title = cls.title or cls.mode
    ROUTER_REGISTRY[cls.mode] = cls
    return cls


def router_class(mode: object) -> Type[Router]:
    """The router of a row's ``mode``; ``ValueError`` listing the registered modes."""
    if mode not in ROUTER_REGISTRY:
        raise ValueError(f'Unknown inference mode {mode!r}; choose from {tuple(ROUTER_REGISTRY)}.')
    return ROUTER_REGISTRY[mode]


def check_routing(rows: Sequence[Router], data: RoutingData, where: str) -> None:
    """``ValueError`` naming what to provide if a row needs routing data that ``data`` lacks."""
    for kind in dict.fromkeys(kind for row in rows for kind in row.requirements()):
        if data.get(kind) is None:
            labels = [row.label for row in rows if kind in row.requirements()]
            raise ValueError(data.why_unusable(kind) or f'{where}: rows {labels} need {kind.provide}.')


@dataclass(frozen=True)
class OneSubnet(Router):
    """Rows that run one ``subnet`` (``[w, d]``, ``full``, or ``all``: one row per subnet)."""

    subnet: Optional[Subnet] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.subnet is None:
            raise ValueError(f"Inference mode {self.mode!r} takes a subnet: [w, d], full or all.")

    @classmethod
    def from_options(cls, spec: Dict, net: SlimmableSupernet, ladder: str) -> List[Router]:
        chosen = spec.get('subnet')
        subnets = net.subnets if chosen == 'all' else [
            None if chosen is None else net.full_subnet if chosen == 'full' else net.validate_subnet(chosen)]
        rows: List[Router] = []
        for subnet in subnets:
            rows += super().from_options(dict(spec, subnet=subnet), net, ladder)
        return rows

    @property
    def label(self) -> str:
        return f'{self.mode}_{self.subnet[0]}x{self.subnet[1]}'
