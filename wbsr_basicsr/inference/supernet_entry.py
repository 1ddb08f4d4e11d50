"""The ``wbsr`` entry of a WBSR network file, typed: :class:`SupernetEntry` reads, checks and writes it.

A WBSR checkpoint is BasicSR's network file (``{'params': ..., 'params_ema': ...}``) plus a
``wbsr`` entry: the network's options and scale, its subnets, the routing thresholds (Eq. 7),
the routing calibration and a time profile per device (``scripts/calibrate_routing.py``),
BDLoss's state, what it was trained on and how (if recorded), and a checksum of every state dict. The model, the inference command and the
scripts read it here, under one rule for the patch geometry and for a calibration of another
network (:meth:`SupernetEntry.routing`).
"""
from dataclasses import dataclass, replace
from typing import Dict, Optional, Tuple

from torch import nn

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.routing import RoutingData
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.runtime.timing import TimeProfile
from wbsr_basicsr.utils.checkpoints import NetworkFile, parameter_checksums, read_checkpoint, read_entry, state_checksum

ENTRY_KEY = 'wbsr'
CHECKPOINT_FORMAT = 'wbsr-checkpoint'
CHECKPOINT_VERSION = 1
DEFAULT_PATCH_SIZE = 32
DEFAULT_STRIDE = 28


@dataclass(frozen=True)
class RoutingGeometry:
    """How a supernet's routing chops LR images: ``patch_size`` patches every ``stride`` pixels."""

    patch_size: int = DEFAULT_PATCH_SIZE
    stride: int = DEFAULT_STRIDE


@dataclass(frozen=True)
class LoadedRouting:
    """What the entry gives inference: the routing data and the patch geometry."""

    data: RoutingData
    geometry: RoutingGeometry


@dataclass(frozen=True)
class SupernetEntry:
    """The ``wbsr`` entry: what travels with a supernet's parameters."""

    network: Optional[Dict]  # the network_g options that build it
    scale: Optional[int]
    subnets: Tuple[Subnet, ...]
    thresholds: Optional[DifficultyClasses] = None
    calibration: Optional[Calibration] = None
    sigma: Optional[float] = None  # BDLoss's learned scale
    likelihood: Optional[str] = None
    prior: Optional[Dict] = None  # BDLoss's Gaussian-mixture prior
    timing: Tuple[TimeProfile, ...] = ()  # one per device it was measured on
    training: Optional[Dict] = None  # what it was trained on and how (the shipped models: docs/models.md)

    @classmethod
    def read(cls, path: str, content: Optional[NetworkFile] = None, verify: bool = True) -> Optional['SupernetEntry']:
        """The entry of the network file at ``path`` (its ``content``, if read already), None for a plain
        BasicSR file; format, version and, if ``verify``, the parameters' checksums checked."""
        content = read_checkpoint(path) if content is None else content
        entry = read_entry(path, content, ENTRY_KEY, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, verify)
        return None if entry is None else cls.from_dict(entry)

    @classmethod
    def from_dict(cls, entry: Dict) -> 'SupernetEntry':
        return cls(entry.get('network'), entry.get('scale'), tuple(tuple(s) for s in entry.get('subnets') or ()),
                   DifficultyClasses.from_dict(entry['router']) if entry.get('router') else None,
                   Calibration.from_dict(entry['calibration']) if entry.get('calibration') else None,
                   entry.get('sigma'), entry.get('likelihood'), entry.get('prior'),
                   tuple(TimeProfile.from_dict(profile) for profile in entry.get('timing') or ()), entry.get('training'))

    def to_dict(self) -> Dict:
        """The entry as stored, without checksums (:meth:`store` adds them)."""
        return dict(format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION,
                    network=None if self.network is None else dict(self.network), scale=self.scale,
                    subnets=[list(s) for s in self.subnets],
                    router=None if self.thresholds is None else self.thresholds.to_dict(),
                    calibration=None if self.calibration is None else self.calibration.to_dict(),
                    sigma=self.sigma, likelihood=self.likelihood, prior=self.prior,
                    timing=[profile.to_dict() for profile in self.timing], training=self.training)

    def store(self, content: NetworkFile) -> NetworkFile:
        """``content`` with this entry under ``wbsr``, holding the checksum of every state dict in it."""
        states = {key: value for key, value in content.items() if key != ENTRY_KEY}
        return dict(states, **{ENTRY_KEY: dict(self.to_dict(), checksums=parameter_checksums(states))})

    def with_calibration(self, calibration: Optional[Calibration]) -> 'SupernetEntry':
        return replace(self, calibration=calibration)

    def with_timing(self, profile: TimeProfile) -> 'SupernetEntry':
        """This entry with ``profile`` in place of any earlier one of its device."""
        return replace(self, timing=tuple(p for p in self.timing if p.device != profile.device) + (profile,))

    def time_profile(self, device: str) -> Optional[TimeProfile]:
        return next((profile for profile in self.timing if profile.device == device), None)

    def routing(self, net: SlimmableSupernet, fingerprint: str, where: str, patch_size: Optional[int] = None,
                stride: Optional[int] = None, thresholds: Optional[DifficultyClasses] = None,
                device: str = '') -> LoadedRouting:
        """The routing of ``net`` (whose parameters' checksum is ``fingerprint``) from this entry.

        One rule everywhere: the thresholds (this entry's, or ``thresholds`` made from a statistics
        file) fix the patch size, and a ``patch_size`` asked for that differs is an error; the
        ``stride`` asked for, else the thresholds', else 28. A calibration measured on another
        network, scale, subnets or patch size is not used; the reason is kept for the rows that
        need it (``RoutingData.why_unusable``). The time profile is the one of ``device``
        (:func:`wbsr_basicsr.runtime.timing.device_name`), if measured."""
        thresholds = thresholds or self.thresholds
        geometry = routing_geometry(thresholds, patch_size, stride, where)
        calibration, unusable = self.calibration, None
        if calibration is not None:
            try:
                calibration.check(net.subnets, self.scale or net.upscale, geometry.patch_size, fingerprint, where)
            except ValueError as error:
                calibration, unusable = None, str(error)
        if thresholds is not None and thresholds.stride != geometry.stride:
            thresholds = replace(thresholds, stride=geometry.stride)
        profile = self.time_profile(device)
        if profile is not None and profile.patch_size != geometry.patch_size:
            profile = None  # measured for other patches: time rows ask for a new one
        return LoadedRouting(RoutingData.of(thresholds, calibration, profile,
                                             unusable={Calibration: unusable} if unusable else None),
                             geometry)


def routing_geometry(thresholds: Optional[DifficultyClasses], patch_size: Optional[int], stride: Optional[int],
                     where: str) -> RoutingGeometry:
    """The patch size of ``thresholds`` (``patch_size``, if given, must agree), the ``stride`` asked
    for or the thresholds'; without thresholds, what is asked for or the defaults."""
    if thresholds is None:
        return RoutingGeometry(patch_size or DEFAULT_PATCH_SIZE, stride or DEFAULT_STRIDE)
    if patch_size is not None and patch_size != thresholds.patch_size:
        raise ValueError(f'{where}: its routing thresholds are for {thresholds.patch_size}-pixel patches; '
                         f'routing.patch_size is {patch_size}.')
    return RoutingGeometry(thresholds.patch_size, stride or thresholds.stride)


def load_supernet(path: str, network_opt: Optional[Dict] = None,
                  param_key: str = 'params') -> Tuple[SlimmableSupernet, NetworkFile, SupernetEntry]:
    """The supernet a WBSR checkpoint holds, in eval mode on the CPU, with the file's content and
    entry. The network is built from ``network_opt`` (a ``network_g`` section) if given, else from
    the options the checkpoint records."""
    from basicsr.archs import build_network

    content = read_checkpoint(path)
    entry = SupernetEntry.read(path, content)
    if entry is None:
        raise ValueError(f'{path}: a plain BasicSR network file; this needs a WBSR checkpoint (net_g_*.pth of a '
                         'WBSRModel run).')
    network_opt = network_opt or entry.network
    if not network_opt:
        raise ValueError(f"{path}: the checkpoint does not record its network's options (saved before they were "
                         'recorded); pass the option file it was trained with (-opt).')
    if param_key not in content:
        raise ValueError(f'{path}: no parameters under {param_key!r}; it has '
                         f'{sorted(k for k in content if k != ENTRY_KEY)}.')
    try:
        net = build_network(dict(network_opt))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{path}: the network options {dict(network_opt)} do not build a network: {error}') from None
    if not isinstance(net, SlimmableSupernet):
        raise ValueError(f'{path}: its network {network_opt.get("type")} is not a WBSR supernet.')
    try:
        net.load_state_dict(content[param_key])
    except RuntimeError as error:
        detail = ' '.join(str(error).split())[:300]
        raise ValueError(f'{path}: its parameters do not fit the network {dict(network_opt)} ({detail}); give the '
                         'option file it was trained with.') from None
    return net.eval(), content, entry


def fingerprint(net: nn.Module) -> str:
    """The checksum of ``net``'s parameters, which calibrations and classifiers name."""
    return state_checksum(net.state_dict())
