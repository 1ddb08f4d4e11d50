"""The quality model the planner predicts with: its statistics, its fit and the error it measures on
images held out of the fit; the planner takes a mixed plan only when it is predicted better than one
subnet by more than that error."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from test_plans import per_pixel_profile, tiny_net
from wbsr_basicsr.plans import unit_of
from wbsr_basicsr.plans.planner import Planner
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.edges import EdgeTable
from wbsr_basicsr.routing.quality_model import STATISTICS, QualityModel, patch_statistics
from wbsr_basicsr.runtime.patches import chop
from wbsr_basicsr.runtime.runner import Runner


def statistic(patches: torch.Tensor, name: str) -> np.ndarray:
    return patch_statistics(patches)[:, STATISTICS.index(name)]


def test_the_statistics_tell_flat_from_edge_from_texture():
    flat = torch.full((1, 3, 32, 32), 0.4)
    edge = torch.zeros(1, 3, 32, 32)
    edge[..., 16:] = 1.  # one vertical edge
    texture = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    patches = torch.cat([flat, edge, texture])
    for name in ('edge', 'gradient', 'detail', 'texture', 'contrast'):
        values = statistic(patches, name)
        assert values[0] == pytest.approx(0, abs=1e-6) and values[1] > 1 and values[2] > 1, name
    coherence = statistic(patches, 'coherence')
    assert coherence[1] > 0.99 and coherence[2] < 0.3  # one direction against none
    assert statistic(patches, 'brightness')[0] == pytest.approx(0.4, abs=1e-3)
    assert statistic(torch.rand(5, 1, 32, 32), 'edge').shape == (5,)  # grey patches too


def test_the_fit_recovers_the_statistics_part_and_measures_the_rest_on_held_out_images():
    """PSNR of 3 subnets = a known function of the statistics + a per-image offset per subnet that no
    statistic predicts (std 0.1 dB): predictions recover the function; the held-out error of a gain
    (a difference of two subnets' offsets) is about 0.1 x sqrt(2)."""
    generator = np.random.default_rng(0)
    images = np.repeat(np.arange(60), 20)
    statistics = generator.normal(0, 1, (len(images), len(STATISTICS)))

    def truth(s):
        base = 30 + 2 * s[:, 0] - s[:, 3] + 0.5 * s[:, 0] * s[:, 2]
        return np.stack([base, base + 0.2 + 0.1 * s[:, 0], base + 0.3 + 0.3 * s[:, 1] ** 2], 1)

    offsets = generator.normal(0, 0.1, (60, 3))[images]
    model = QualityModel.fit(statistics, truth(statistics) + offsets, images)
    fresh = generator.normal(0, 1, (500, len(STATISTICS)))
    assert np.abs(model.predict(fresh) - truth(fresh)).mean() < 0.05
    assert 0.1 < model.gain_error < 0.2 and model.folds == 5
    assert QualityModel.fit(statistics, truth(statistics), images).gain_error < 0.05  # nothing unpredictable
    assert QualityModel.fit(statistics[:20], truth(statistics[:20]), images[:20]).gain_error is None  # one image
    assert QualityModel.from_dict(model.to_dict()) == model
    with pytest.raises(ValueError, match='calibrate the checkpoint again'):  # stored by a version with other statistics
        QualityModel.from_dict(dict(model.to_dict(), statistics=['edge']))


def test_a_mixed_plan_predicted_better_by_less_than_the_stored_error_is_not_taken():
    """A flat and a textured image over one folder: the mixed plan (cheapest subnet on the flat one, the
    full network on the textured one) is taken while its predicted gain over one subnet on both, per
    image, exceeds the stored error over sqrt(2 images), and one subnet runs on both beyond that."""
    net = tiny_net()
    flat = torch.full((1, 3, 64, 96), 0.5)
    textured = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    patches = [chop(image, Runner(net, 32, 28).layout(image)) for image in (flat, textured)]
    psnr = np.concatenate([np.full((len(patches[0]), 4), 40.), np.tile([25., 26., 27., 28.], (len(patches[1]), 1))])
    model = QualityModel.fit(patch_statistics(torch.cat(patches)), psnr,
                             np.repeat([0, 1], [len(part) for part in patches]))
    table = EdgeTable((0., 10., 1000.), ((40.,) * 4, (25., 26., 27., 28.)), (1, 1))
    calibration = Calibration(tuple(net.subnets), 2, 32, 'abc', 'synthetic', len(psnr), (30., 31., 32., 33.), table,
                              model)
    planner = Planner(Runner(net, 32, 28, timing=per_pixel_profile([1e-6, 1.5e-6, 2e-6, 3e-6])), [unit_of('image')],
                      calibration)
    priced = [planner.price(image) for image in (flat, textured)]
    priced = [type(p)(p.options, p.full_seconds, 0.) for p in priced]

    def plan_with(error):
        planner.calibration = replace(calibration, quality=replace(model, gain_error=error))
        return [int(plan.ids[0]) for plan in planner.plan(priced, 0.67)], planner.plan(priced, 0.67)

    mixed, mixed_plans = plan_with(0.)
    uniform, uniform_plans = plan_with(100.)
    assert mixed[0] < mixed[1] and len(set(uniform)) == 1  # 0.67 x (1 + 3) buys subnet 2 on both
    gain = sum(p.quality for p in mixed_plans) / 2 - sum(p.quality for p in uniform_plans) / 2
    assert gain > 0.1
    assert plan_with(0.95 * gain * np.sqrt(2))[0] == mixed
    assert plan_with(1.05 * gain * np.sqrt(2))[0] == uniform
