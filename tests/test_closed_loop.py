"""Time budgets spent closed-loop (wbsr_basicsr/plans/spending.py): a folder whose time profile is
deliberately off lands on its budget because each image is planned with the seconds measured so far.
The machine is simulated by a second profile (the true seconds), so that the figures are exact."""
import numpy as np
import pytest
import torch

from test_plans import per_pixel_profile, tiny_net
from wbsr_basicsr.plans import unit_of
from wbsr_basicsr.plans.planner import Planner, PricedImage
from wbsr_basicsr.plans.spending import Corrections, folder_spendings
from wbsr_basicsr.routing import router_class
from wbsr_basicsr.runtime.runner import Runner

TRUE = (1e-6, 1.5e-6, 2e-6, 3e-6)
"""Seconds per LR pixel of each subnet on the simulated machine."""
OFF = (0.5e-6, 0.75e-6, 1e-6, 3e-6)
"""The stored profile: every subnet but the full network 50% off (predicted twice as fast as it runs)."""


def folder() -> list:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(1, 3, 48 + 8 * (k % 4), 64 + 8 * (k % 3), generator=generator) for k in range(10)]


def true_seconds(plan, net) -> float:
    """What the plan takes on the simulated machine."""
    machine = per_pixel_profile(TRUE)
    truth = plan.unit.seconds(plan.priced.pieces, machine, Runner(net, 32, 28, timing=machine))
    return float(truth[np.arange(len(plan.ids)), plan.ids].sum())


def priced_folder(runner: Runner) -> list:
    planner = Planner(runner, [unit_of('image'), unit_of('tile24')], None)
    priced = [planner.price(image) for image in folder()]
    return planner, [PricedImage(p.options, p.full_seconds, 0.) for p in priced]  # no pricing time: exact


@pytest.mark.parametrize('target', [0.5, 0.65, 0.8])
def test_a_folder_whose_profile_is_half_off_lands_on_its_budget(target):
    runner = Runner(tiny_net(), 32, 28, timing=per_pixel_profile(OFF))
    planner, priced = priced_folder(runner)
    full = sum(h * w for h, w in (image.shape[-2:] for image in folder())) * TRUE[-1]  # --full, measured
    opened = folder_spendings(planner, priced, target, None)  # closed_loop: false
    open_loop = sum(true_seconds(spending.plan(image), runner.net) for spending, image in zip(opened, folder()))
    assert open_loop > 1.1 * target * full  # the stored profile alone overspends: the test can fail

    corrections = Corrections(len(TRUE), probed=True)  # the probe as it would measure on the simulated machine:
    corrections.predicted[-1], corrections.measured[-1] = OFF[-1] * 48 * 48, TRUE[-1] * 48 * 48  # the full network
    spent = 0.
    for spending, image in zip(folder_spendings(planner, priced, target, corrections), folder()):
        plan = spending.plan(image)
        seconds = true_seconds(plan, runner.net)
        spending.record(plan, seconds, seconds)
        spent += seconds
    assert spent == pytest.approx(target * full, rel=0.1)
    assert corrections.factors()[:3] == pytest.approx([2., 2., 2.], rel=0.35)  # what it learnt of the subnets run


def test_an_open_loop_plan_row_is_its_own_row():
    row = router_class('plan')(target=0.5, scope='image', closed_loop=False)
    assert row.label == 'plan_0.5_image_open' and router_class('plan')(target=0.5, scope='image').closed_loop


def test_a_subnet_not_run_takes_the_larger_factor_of_its_nearest_neighbours_run():
    corrections = Corrections(5)
    assert corrections.factors().tolist() == [1.] * 5
    corrections.predicted[[1, 4]], corrections.measured[[1, 4]] = (1., 2.), (3., 2.)
    assert corrections.factors().tolist() == pytest.approx([3., 3., 3., 3., 1.])
    corrections.predicted[2], corrections.measured[2] = 1., 0.5
    assert corrections.factors().tolist() == pytest.approx([3., 3., 0.5, 1., 1.])


def test_the_probe_runs_only_where_the_folders_budget_pays_for_it():
    """The probe's two full-network runs on a 48 x 48 crop, by the profile, against 5% of the budget:
    a folder budget 10 x their cost is too small (the probe would take 10%), 100 x is large enough."""
    runner = Runner(tiny_net(), 32, 28, timing=per_pixel_profile(TRUE))
    image = torch.rand(1, 3, 48, 48)
    probe_cost = 2 * TRUE[-1] * 48 * 48
    small, large = Corrections(len(TRUE)), Corrections(len(TRUE))
    small.probe(runner, image, 10 * probe_cost)
    large.probe(runner, image, 100 * probe_cost)
    assert small.probed and small.predicted[-1] == 0 and small.measured[-1] == 0  # not run, not run again
    assert large.predicted[-1] == pytest.approx(TRUE[-1] * 48 * 48) and large.measured[-1] > 0
