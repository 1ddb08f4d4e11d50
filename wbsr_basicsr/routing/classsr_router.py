"""ClassSR's router (Kong et al., CVPR 2021) on a WBSR supernet: Table 1's "+ClassSR" row.

A :class:`~wbsr_basicsr.archs.classsr_classifier_arch.ClassSRClassifier` gives every LR patch one
logit per class; a class is a subnet of the supernet (default: every width at full depth,
ClassSR's three branch widths). ClassSR runs the argmax class. Beyond ClassSR, which has no
budget, a FLOPs target is met by per-class logit offsets proportional to the classes' costs,
``argmax_m logit_m - lambda C_m / C_t``, ``lambda`` solved for the target like the oracle's and
ARM's ``eta`` (:func:`.budget.lagrangian_allocation`): ``{mode: classifier[, target: R, scope: ...]}``.

The classifier is trained by ``ClassSRModel`` with the supernet frozen and saved in its own
network file (``net_c_*.pth``) whose ``classsr`` entry names the supernet it was trained on;
:func:`load_classifier` refuses it for any other supernet.
"""
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.utils.checkpoints import parameter_checksums, read_checkpoint, read_entry

from .base import Group, BudgetedRouter, Features, PatchRunner, RoutingData, register_router
from .budget import lagrangian_allocation

CLASSIFIER_FORMAT = 'wbsr-classsr-classifier'
CLASSIFIER_VERSION = 1
COLLAPSE_SHARE = 0.9
TRAIN_CLASSIFIER_HINT = ('python wbsr_basicsr/train.py -opt options/train/train_ClassSR_MSRResNet_x4.yml with '
                         'path.pretrain_network_g set to this supernet')
"""A classifier that sends more than this share of a set's patches to one class has collapsed."""


def class_subnets(net: SlimmableSupernet, chosen: Optional[Sequence[Sequence[int]]] = None) -> Tuple[int, ...]:
    """Indices into ``net.subnets`` of the classes, cheapest first: ``chosen`` ``[[w, d], ...]`` or, by
    default, every width at full depth."""
    if chosen is None:
        chosen = [(width, net.full_subnet[1]) for width in net.widths]
    indices = sorted({net.subnets.index(net.validate_subnet(subnet)) for subnet in chosen})
    if len(indices) < 2 or len(indices) != len(chosen):
        raise ValueError(f'ClassSR classes must be at least two distinct subnets, got {list(chosen)}.')
    return tuple(indices)


@dataclass(frozen=True)
class Classifier:
    """A classifier ``net`` whose class ``k`` runs the supernet's subnet ``subnet_ids[k]``."""

    net: nn.Module
    subnet_ids: Tuple[int, ...]
    source: str
    provide: ClassVar[str] = (f'a ClassSR classifier trained on this supernet: set path.pretrain_network_c (train one: '
                              f'{TRAIN_CLASSIFIER_HINT})')

    @torch.no_grad()
    def logits(self, patches: Tensor, max_batch: int = 256) -> np.ndarray:
        """``(N, M)`` logits of ``(N, C, P, P)`` LR patches."""
        return torch.cat([self.net(patches[start:start + max_batch]).float().cpu()
                          for start in range(0, len(patches), max_batch)]).numpy()

    def allocate(self, logits: np.ndarray, costs: np.ndarray, target: Optional[float]) -> np.ndarray:
        """Subnet index per patch: the argmax class, or with a ``target`` ratio of the full FLOPs
        the classes offset by ``-lambda C_m / C_t`` (``lambda`` solved for the target, spent)."""
        ids = np.asarray(self.subnet_ids)
        if target is None:
            return ids[np.argmax(logits, axis=1)]
        class_costs = np.asarray(costs, dtype=np.float64)[ids]
        ratio = min(1., target * np.max(costs) / class_costs.max())  # the target as a ratio of the dearest class
        return ids[lagrangian_allocation(-logits, class_costs, ratio, spend=True)]

    def flops(self, patch_size: int) -> int:
        """FLOPs of classifying one patch (ClassSR counts them)."""
        return int(self.net.flops(patch_size, patch_size))

    def summary(self, patch_size: int) -> Dict:
        """What tables report of the classifier: source, parameters, FLOPs per patch, class subnets."""
        return dict(source=self.source, parameters=sum(p.numel() for p in self.net.parameters()),
                    flops_per_patch=self.flops(patch_size), subnet_ids=list(self.subnet_ids))

    def class_names(self, subnets: Sequence[Subnet]) -> List[str]:
        """Each class's subnet as ``<width>x<depth>``; ``subnets``: the supernet's."""
        return [f'{subnets[i][0]}x{subnets[i][1]}' for i in self.subnet_ids]

    def describe(self, subnets: Sequence[Subnet], patch_size: int) -> str:
        summary = self.summary(patch_size)
        return (f"ClassSR classifier ({summary['source']}): {summary['parameters']:,} parameters, "
                f"{summary['flops_per_patch'] / 1e6:.3f} MFLOPs per patch; classes = subnets "
                f"{' '.join(self.class_names(subnets))}")

    def shares(self, usage: Sequence[float]) -> np.ndarray:
        """Each class's share of the patches, from a row's per-subnet ``usage``."""
        return np.asarray(usage)[list(self.subnet_ids)]


def classifier_entry(network: Dict, subnets: Sequence[Subnet], scale: int, fingerprint: str) -> Dict:
    """The ``classsr`` entry of a classifier's network file: its options and the supernet it routes."""
    return dict(format=CLASSIFIER_FORMAT, version=CLASSIFIER_VERSION, network=dict(network),
                subnets=[list(s) for s in subnets], scale=scale, supernet=fingerprint)


def with_checksums(entry: Dict, content: Dict) -> Dict:
    return dict(entry, checksums=parameter_checksums(content))


def load_classifier(path: str, net: SlimmableSupernet, scale: int, fingerprint: str,
                    device: torch.device) -> Classifier:
    """The classifier saved at ``path``, checked against the supernet ``net`` (its parameters'
    ``fingerprint``, subnets and ``scale``); ``ValueError`` naming the file and what differs."""
    from basicsr.archs import build_network

    content = read_checkpoint(path)
    entry = read_entry(path, content, 'classsr', CLASSIFIER_FORMAT, CLASSIFIER_VERSION)
    if entry is None:
        raise ValueError(f'{path}: not a ClassSR classifier (net_c_*.pth of a ClassSRModel run): it has no '
                         "'classsr' entry.")
    subnets = [tuple(s) for s in entry['subnets']]
    differ = [f'subnet {s[0]}x{s[1]} (not in the network)' for s in subnets if s not in net.subnets]
    if entry['scale'] != scale:
        differ.append(f"scale {entry['scale']} (network: {scale})")
    if entry['supernet'] != fingerprint:
        differ.append('parameters (their checksum differs)')
    if differ:
        raise ValueError(f'{path}: this classifier was trained on another supernet: {"; ".join(differ)}. Train one on '
                         f'this supernet: {TRAIN_CLASSIFIER_HINT}.')
    classifier = build_network(dict(entry['network']))
    classifier.load_state_dict(content['params'])
    return Classifier(classifier.to(device).eval(), class_subnets(net, subnets), path)


@register_router
@dataclass(frozen=True)
class ClassifierRouter(BudgetedRouter):
    """ClassSR's classifier: its argmax class, or held to an optional ``target``."""

    mode: ClassVar[str] = 'classifier'
    title: ClassVar[str] = 'ClassSR'
    feature: ClassVar[str] = 'logits'
    target_optional: ClassVar[bool] = True

    def needs(self) -> Tuple[type, ...]:
        return (Classifier,)

    def measure(self, patches: Tensor, gt: Optional[Tensor], data: RoutingData, runner: PatchRunner) -> Features:
        return {'logits': data.get(Classifier).logits(patches, runner.max_batch)}

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        return data.get(Classifier).allocate(group.features['logits'], group.costs, group.target)

    def flops(self, data: RoutingData, patch_size: int, channels: int) -> float:
        return float(data.get(Classifier).flops(patch_size))
