"""The router interface: a router added from this file alone (registered here) runs as test.py rows,
through test_pipeline, and in the inference command, with no other file touched."""
import json
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import basicsr.test
from conftest import REPO, load_script, rows_test_options
from wbsr_basicsr.routing import ROUTER_REGISTRY, RoutingData, register_router
from wbsr_basicsr.routing.base import BudgetedRouter, Group
from wbsr_basicsr.routing.budget import split_to_target


@register_router
@dataclass(frozen=True)
class RandomRouter(BudgetedRouter):
    """Random patches take the full network, the rest the cheapest subnet, as many as the target allows."""

    seed: int = 0
    mode: ClassVar[str] = 'random'

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        cheapest, full = np.zeros(group.count, dtype=np.int64), np.full(group.count, len(group.subnets) - 1)
        priority = np.random.default_rng(self.seed).random(group.count)
        return split_to_target(cheapest, full, priority, group.costs, group.target)


def test_a_router_registered_here_runs_in_test_py_and_in_the_inference_command(tmp_path, tiny_pairs, trained_wbsr,
                                                                            run_pipeline, monkeypatch, capsys):
    assert ROUTER_REGISTRY['random'] is RandomRouter
    monkeypatch.chdir(tmp_path)
    rows = [dict(mode='random', target=[0.5, 0.8]), dict(mode='random', target=0.5, scope='image', seed=3),
            dict(mode='fixed', subnet='all')]
    run_pipeline(basicsr.test.test_pipeline, tmp_path,
                 rows_test_options('random_router', trained_wbsr, tiny_pairs, rows, save_img=True))
    results = tmp_path / 'results' / 'random_router'
    table = {row['row']: row for row in json.loads((results / 'wbsr_table_tiny.json').read_text())['rows']}
    assert list(table)[:3] == ['random_0.5_dataset', 'random_0.8_dataset', 'random_0.5_image']
    # as close as one patch allows: 12 patches in the set (steps of 6.4 points), 4 in an image (19.3)
    for label, target, step in (('random_0.5_dataset', 50, 6.4), ('random_0.8_dataset', 80, 6.4),
                                ('random_0.5_image', 50, 19.3)):
        assert table[label]['flops_percent'] == pytest.approx(target, abs=step / 2)
        used = [share > 0 for share in table[label]['usage']]
        assert used == [True, False, False, True] and 'vs_fixed' in table[label]  # only the cheapest and the full
    assert len(list((results / 'visualization' / 'tiny').glob('*_random_0.5_image_subnets.png'))) == 3

    script = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py')
    out = tmp_path / 'out'
    photos = tiny_pairs[0]  # 96 x 96 inputs: 16 patches, one patch a step of 8.6 points of the whole image's FLOPs
    assert script.main(['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr),
                        '--row', '{mode: random, target: 0.6, scope: image}']) == 0
    printed = capsys.readouterr().out
    assert '3 images, random_0.6_image_imageflops' in printed  # --flops image: the command's default unit
    spent = [float(v) for v in re.findall(r'([\d.]+)% of the full FLOPs', printed)]
    assert len(spent) == 4 and all(abs(v - 60) <= 4.3 for v in spent), spent
    assert len(list(out.glob('*_wbsr.png'))) == 3
    assert script.main(['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr),
                        '--row', '{mode: random, targt: 0.6}']) == 2
    error = capsys.readouterr().err
    assert 'random row: unknown option targt; the known ones are budget_unit, scope, seed, target' in error


@dataclass(frozen=True)
class Priorities:
    """Routing data of a router of this file's own: which patches take the full network."""

    order: int
    provide: ClassVar[str] = 'patch priorities: make them with a tool of your own'


@register_router
@dataclass(frozen=True)
class PriorityRouter(BudgetedRouter):
    """Patches take the full network in the order its :class:`Priorities` give, as the target allows."""

    mode: ClassVar[str] = 'priority'

    def needs(self):
        return (Priorities,)

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        cheapest, full = np.zeros(group.count, dtype=np.int64), np.full(group.count, len(group.subnets) - 1)
        priority = np.arange(group.count) * data.get(Priorities).order
        return split_to_target(cheapest, full, priority, group.costs, group.target)


def test_a_router_declares_routing_data_of_its_own():
    import torch
    from conftest import make_row
    from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
    from wbsr_basicsr.inference.engine import Engine

    net = WBSRMSRResNet(num_feat=16, num_block=2, upscale=2, widths=(8, 16), depths=(1, 2)).eval()
    row = make_row('priority', target=0.5)
    with pytest.raises(ValueError, match=r"rows \['priority_0.5_dataset'\] need patch priorities: make them"):
        Engine(net, RoutingData(), 32, 28).check([row], 'here')
    lq = torch.rand(1, 3, 88, 88, generator=torch.Generator().manual_seed(0))
    for order, first in ((1, -1), (-1, 0)):  # the full network for the last patches, or for the first ones
        ids = Engine(net, RoutingData.of(Priorities(order)), 32, 28).infer(lq, row).subnet_ids
        assert len(ids) == 9 and ids[first] == 3 and ids[-1 - first] == 0
