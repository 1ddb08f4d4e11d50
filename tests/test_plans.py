"""Plans of time budgets: the budget solver, every routing unit against its reference path, the
planner at image and folder scope, plan rows in test.py and the command, a unit added from its own file."""
import importlib.util
import itertools
import json

import numpy as np
import pytest
import torch

import basicsr.test
from conftest import REPO, load_script, rows_test_options
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.plans import UNIT_REGISTRY, unit_of
from wbsr_basicsr.plans.planner import Planner
from wbsr_basicsr.routing import router_class
from wbsr_basicsr.routing.budget import greedy_choice
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.edges import EdgeTable
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile

STRIPE_UNIT = '''
import numpy as np

from wbsr_basicsr.plans import RoutingUnit, register_unit
from wbsr_basicsr.runtime.pieces import Pieces


@register_unit
class StripeUnit(RoutingUnit):
    """Stripes of ``size`` LR rows across the image, each run by its own subnet, without margin."""

    family = 'stripe'

    def __init__(self, size=None):
        self.size = size or 16

    def pieces(self, height, width, runner):
        tops = np.arange(0, height, self.size)
        boxes = np.stack([tops, 0 * tops, np.minimum(tops + self.size, height), 0 * tops + width], 1)
        return Pieces(height, width, boxes, boxes)
'''


def tiny_net() -> WBSRMSRResNet:
    torch.manual_seed(0)
    return WBSRMSRResNet(num_feat=16, num_block=2, upscale=2, widths=(8, 16), depths=(1, 2)).eval()


def per_pixel_profile(seconds_per_pixel) -> TimeProfile:
    """Whole images (and windows) cost ``seconds_per_pixel[m]`` per LR pixel; patches as many pixels' worth."""
    per_pixel = np.asarray(seconds_per_pixel)
    return TimeProfile('test device', 32, (0.,) * len(per_pixel), tuple(1024 * per_pixel), 0., (1024, 65536),
                       tuple((1024 * p, 65536 * p) for p in per_pixel))


def test_the_budget_solver_keeps_to_the_budget_within_one_step_of_the_optimum():
    generator = np.random.default_rng(0)
    for _ in range(200):
        costs = np.sort(generator.uniform(0.1, 1., (3, 4)), 1)
        values = np.sort(generator.uniform(20., 30., (3, 4)), 1) + generator.normal(0, 0.5, (3, 4))
        budget = generator.uniform(costs.min(1).sum(), costs.max(1).sum())
        ids = greedy_choice(values, costs, budget)
        rows = np.arange(3)
        assert costs[rows, ids].sum() <= budget + 1e-9
        best = max(values[rows, choice].sum() for choice in itertools.product(range(4), repeat=3)
                   if costs[rows, choice].sum() <= budget)
        assert values[rows, ids].sum() >= best - (values.max(1) - values.min(1)).max() - 1e-9
    # two pieces alike in cost; the budget buys one upgrade: the piece that gains more takes it
    costs = np.array([[1., 2.], [1., 2.]])
    assert greedy_choice(np.array([[30., 30.1], [20., 23.]]), costs, 3.).tolist() == [0, 1]
    assert greedy_choice(np.array([[30., 30.1], [20., 23.]]), costs, 1.).tolist() == [0, 0]  # the cheapest, over


@pytest.mark.parametrize('name', ['image', 'tile24', 'patch'])
def test_every_unit_gives_its_reference_image_for_a_fixed_allocation(name):
    """The planner's units against the plain networks run piece by piece: each window through its
    subnet cropped to its region (image, tiles), or each patch through its subnet, averaged (patches)."""
    net = tiny_net()
    runner = Runner(net, 32, 28, max_batch=5)
    lq = torch.rand(1, 3, 45, 70, generator=torch.Generator().manual_seed(1))
    unit = unit_of(name)
    pieces = unit.pieces(45, 70, runner)
    ids = np.random.default_rng(2).integers(0, len(net.subnets), pieces.count)
    plain = [net.extract_subnet(subnet).eval() for subnet in net.subnets]
    total, count = torch.zeros(1, 3, 90, 140), torch.zeros(1, 1, 90, 140)
    with torch.no_grad():
        for m, (y0, x0, y1, x1), (top, left, bottom, right) in zip(ids, pieces.windows, pieces.regions):
            sr = plain[m](lq[..., y0:y1, x0:x1])
            sr = sr[..., 2 * (top - y0):2 * (bottom - y0), 2 * (left - x0):2 * (right - x0)]
            total[..., 2 * top:2 * bottom, 2 * left:2 * right] += sr
            count[..., 2 * top:2 * bottom, 2 * left:2 * right] += 1
        assert count.min() >= 1 and (name == 'patch' or count.max() == 1)  # patches overlap; the others partition
        planned = unit.run(lq, pieces, ids, runner)
    assert planned.shape == total.shape and (planned - total / count).abs().max() <= 1e-5
    assert unit.flops(pieces, ids, runner) >= net.flops(net.subnets[int(ids.min())], (45, 70)) * 0.99


def test_a_folder_budget_gives_the_hard_image_the_larger_subnet():
    """Two images of one size, one flat, one textured; the table predicts the full network gains 3 dB on
    edges and nothing on flat patches. Per image, the flat one takes the cheapest subnet (nothing to
    gain) and the textured one the best the budget allows; over the folder, the textured one takes the
    time the flat one left: the full network."""
    net = tiny_net()
    table = EdgeTable((0., 10., 1000.), ((40., 40., 40., 40.), (25., 26., 27., 28.)), (1, 1))
    calibration = Calibration(tuple(net.subnets), 2, 32, 'abc', 'synthetic', 2, (30., 31., 32., 33.), table)
    timing = per_pixel_profile([1e-6, 1.5e-6, 2e-6, 3e-6])
    flat = torch.full((1, 3, 64, 96), 0.5)
    textured = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    planner = Planner(Runner(net, 32, 28, timing=timing), [unit_of('image')], calibration)
    priced = [planner.price(image) for image in (flat, textured)]
    priced = [type(p)(p.options, p.full_seconds, 0.) for p in priced]  # no pricing time: shares exact
    each = [planner.plan([image], 0.67)[0] for image in priced]
    assert [int(plan.ids[0]) for plan in each] == [0, 2] and all(plan.share <= 0.67 for plan in each)
    folder = planner.plan(priced, 0.67)
    assert [int(plan.ids[0]) for plan in folder] == [0, 3]  # 1/3 + 1 = 2 x 0.67
    assert sum(plan.seconds for plan in folder) <= 0.67 * sum(plan.full_seconds for plan in folder)
    assert folder[1].quality > each[1].quality and folder[0].quality == each[0].quality
    # pricing an image is part of its budget and of its share
    priced = [type(p)(p.options, p.full_seconds, 0.1 * p.full_seconds) for p in priced]
    folder = planner.plan(priced, 0.67)
    assert [int(plan.ids[0]) for plan in folder] == [0, 2]
    assert [plan.share for plan in folder] == pytest.approx([1 / 3 + 0.1, 2 / 3 + 0.1])


def test_plan_rows_in_test_py_and_the_command_with_a_unit_added_from_its_own_file(tmp_path, tiny_pairs, trained_wbsr,
                                                                                 run_pipeline, monkeypatch, capsys):
    source = tmp_path / 'stripe_unit.py'
    source.write_text(STRIPE_UNIT)
    spec = importlib.util.spec_from_file_location('stripe_unit', source)
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        assert UNIT_REGISTRY['stripe'].__name__ == 'StripeUnit'
        monkeypatch.chdir(tmp_path)
        timed = tmp_path / 'timed.pth'
        calibrate = load_script('calibrate_routing', REPO / 'scripts' / 'calibrate_routing.py')
        assert calibrate.main(['--model', str(trained_wbsr), '--time-only', '--output', str(timed)]) == 0
        rows = [dict(mode='plan', target=0.7, scope='image', units=['stripe16', 'image']),
                dict(mode='plan', target=0.7, scope='dataset', units=['stripe16', 'image', 'tile32', 'patch']),
                dict(mode='whole', subnet='full')]
        run_pipeline(basicsr.test.test_pipeline, tmp_path, rows_test_options('plans', timed, tiny_pairs, rows, True))
        table = {row['row']: row for row in json.loads(
            (tmp_path / 'results' / 'plans' / 'wbsr_table_tiny.json').read_text())['rows']}
        assert list(table) == ['plan_0.7_image_stripe16+image', 'plan_0.7_dataset_stripe16+image+tile32+patch',
                               'whole_16x2']
        for label in list(table)[:2]:
            row = table[label]
            assert sum(row['plans'].values()) == 3 and set(row['plans']) <= {'stripe16', 'image', 'tile32', 'patch'}
            assert all(image['plan'].split(':')[0] in row['plans'] for image in row['per_image'])
            # predicted, pricing included (which on this tiny network may take longer than the network)
            assert row['time_percent'] > 0
        script = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py')
        assert script.main(['-i', str(tiny_pairs[0]), '-o', str(tmp_path / 'out'), '--model', str(timed),
                            '--target-time', '0.8', '--units', 'stripe16', '--scope', 'folder']) == 0
        lines = [line for line in capsys.readouterr().out.splitlines() if '; plan stripe16: ' in line]
        assert len(lines) == 3 and len(list((tmp_path / 'out').glob('*_wbsr.png'))) == 3
        assert not any('over the budget' in line for line in lines)  # a folder's images may spend more or less
    finally:
        UNIT_REGISTRY.pop('stripe', None)


def test_plan_rows_refuse_what_is_not_theirs():
    plan = router_class('plan')
    with pytest.raises(ValueError, match="plan rows count time; budget_unit 'image_flops' is not theirs"):
        plan(target=0.5, budget_unit='image_flops')
    with pytest.raises(ValueError, match='Unknown routing unit'):
        plan(target=0.5, units=['tiles'])
    with pytest.raises(ValueError, match='takes a target'):
        plan()
    assert plan(target=0.5, scope='image').label == 'plan_0.5_image'
