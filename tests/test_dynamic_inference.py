"""Dynamic inference core: coverage, merge weights, Eq. 15 / 16 routing, target FLOPs, batching."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import make_row, photo_rgb
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.inference.engine import Engine
from wbsr_basicsr.inference.rows import parse_rows
from wbsr_basicsr.routing import RoutingData
from wbsr_basicsr.routing.budget import allocate_to_target, alpha_for_target, lagrangian_allocation, route_budget
from wbsr_basicsr.routing.gradient_router import DifficultyClasses, route_ceil
from wbsr_basicsr.runtime.patches import GTPatches, Merger, PatchLayout, chop
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.utils.gradient_stats import (assign_classes, class_thresholds, difficulty_scores,
                                               patch_gradient_vectors)

def merge(outputs, layout: PatchLayout, scale: int):
    """All SR patches of ``layout`` merged at once."""
    merger = Merger(layout, scale, outputs.shape[1], outputs)
    merger.add(torch.arange(len(outputs)), outputs)
    return merger.image()


def chop_patch_by_patch(image, layout: PatchLayout, scale: int = 1):
    """The engine's chop before the gather: one slice per patch (the reference)."""
    pad_h, pad_w = layout.padding
    image = F.pad(image, (0, pad_w * scale, 0, pad_h * scale), mode='replicate') if pad_h or pad_w else image
    size = layout.patch_size * scale
    return torch.cat([image[..., top * scale:top * scale + size, left * scale:left * scale + size]
                      for top, left in layout.corners])


def merge_patch_by_patch(outputs, layout: PatchLayout, scale: int):
    """The engine's merge before the scatter: each SR patch added where it lies, then divided by the
    count of patches on each pixel (the reference)."""
    pad_h, pad_w = layout.padding
    total = outputs.new_zeros(1, outputs.shape[1], (layout.height + pad_h) * scale, (layout.width + pad_w) * scale)
    count = torch.zeros_like(total[:, :1])
    size = layout.patch_size * scale
    for (top, left), patch in zip(layout.corners, outputs):
        total[..., top * scale:top * scale + size, left * scale:left * scale + size] += patch
        count[..., top * scale:top * scale + size, left * scale:left * scale + size] += 1
    return (total / count)[..., :layout.height * scale, :layout.width * scale]


@pytest.mark.parametrize('height, width, stride', [(37, 53, 28), (20, 45, 28), (100, 61, 20), (7, 9, 28),
                                                   (120, 80, 32)])
def test_the_gather_and_the_scatter_give_the_patch_by_patch_chop_and_merge(height, width, stride):
    torch.manual_seed(0)
    image, gt = torch.rand(1, 3, height, width), torch.rand(1, 3, 4 * height, 4 * width)
    layout = PatchLayout.cover(height, width, 32, stride)
    assert torch.equal(chop(image, layout), chop_patch_by_patch(image, layout))
    assert torch.equal(GTPatches(gt, layout)[2:5], chop_patch_by_patch(gt, layout, 4)[2:5])
    outputs = torch.randn(layout.count, 3, 128, 128)
    merger = Merger(layout, 4, 3, outputs)
    for rows in torch.randperm(layout.count).split(7):  # batches in any order, as the subnets' groups come
        merger.add(rows, outputs[rows].contiguous(memory_format=torch.channels_last))
    assert (merger.image() - merge_patch_by_patch(outputs, layout, 4)).abs().max() <= 1e-6
    with pytest.raises(RuntimeError, match='add every one once'):
        Merger(layout, 4, 3, outputs).image()


@pytest.mark.parametrize('height, width', [(32, 32), (37, 53), (100, 61), (20, 45), (7, 9)])
def test_patches_cover_every_pixel_and_merge_weights_sum_to_one(height, width):
    layout = PatchLayout.cover(height, width, patch_size=32, stride=28)
    coverage = torch.zeros(max(height, 32), max(width, 32))
    for top, left in layout.corners:
        coverage[top:top + 32, left:left + 32] += 1
    assert coverage.min() >= 1  # every pixel (of the padded image) is covered
    # MergeBuffer divides by the coverage: per pixel, the weights 1 / count of its patches sum to 1.
    ones = torch.ones(len(layout.corners), 1, 32 * 2, 32 * 2)
    assert torch.equal(merge(ones, layout, 2), torch.ones(1, 1, height * 2, width * 2))


@pytest.mark.parametrize('height, width', [(37, 53), (20, 45)])
def test_chop_and_merge_reproduce_a_patchwise_operation(height, width):
    image = torch.rand(1, 3, height, width)
    layout = PatchLayout.cover(height, width, 32, 28)
    upsampled = merge(F.interpolate(chop(image, layout), scale_factor=3, mode='nearest'), layout, 3)
    assert torch.allclose(upsampled, F.interpolate(image, scale_factor=3, mode='nearest'))


def test_ceil_routing_is_eq15():
    classes = np.arange(10)  # k = 1..10
    assert route_ceil(classes, 10, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert route_ceil(classes, 10, 9).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert route_ceil(classes, 10, 10).tolist() == list(range(10))


def test_budget_routing_is_monotone_in_alpha():
    net = WBSRMSRResNet()
    costs = [net.flops(s) for s in net.subnets]
    classes = np.random.default_rng(0).integers(0, 10, 500)
    averages = [np.mean(np.asarray(costs)[route_budget(classes, 10, costs, a)]) for a in np.linspace(0, 10, 201)]
    assert all(b >= a for a, b in zip(averages, averages[1:]))
    assert averages[0] == min(costs) and averages[-1] == max(costs)  # alpha 10: even class 1 asks for C_t
    # alpha = 1: the hardest class asks for the full cost and gets the full network.
    assert route_budget(np.array([9]), 10, costs, 1.0).tolist() == [len(costs) - 1]


@pytest.mark.parametrize('target', [0.4, 0.5, 0.65, 0.8])
def test_target_flops_within_two_percent_on_calibration_patches(target):
    image = torch.from_numpy(photo_rgb('astronaut')).permute(2, 0, 1)[None].float() / 255.
    layout = PatchLayout.cover(*image.shape[-2:], 32, 28)
    scores = difficulty_scores(patch_gradient_vectors(chop(image, layout))).numpy()
    classes = assign_classes(scores, class_thresholds(scores, 10))
    net = WBSRMSRResNet()
    costs = np.array([net.flops(s) for s in net.subnets], dtype=np.float64)
    alpha = alpha_for_target(classes, 10, costs, target)
    achieved = costs[route_budget(classes, 10, costs, alpha)].mean() / costs.max()
    assert abs(achieved - target) <= 0.02, (alpha, achieved)


def test_run_routed_equals_each_subnet_on_its_patches_merged():
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=4, widths=(8, 16), depths=(2, 4), upscale=2).eval()
    image = torch.rand(1, 3, 45, 70)
    layout = PatchLayout.cover(45, 70, 16, 12)
    patches = chop(image, layout)
    subnet_ids = np.random.default_rng(1).integers(0, len(net.subnets), len(patches))
    merged = Runner(net, 16, 12, max_batch=3).run_routed(patches, subnet_ids, layout)
    assert net.active_subnet == net.full_subnet
    expected = []
    with torch.no_grad():
        for index in range(len(patches)):
            with net.subnet(net.subnets[subnet_ids[index]]):
                expected.append(net(patches[index:index + 1]))
    assert merged.shape == (1, 3, 90, 140)
    assert torch.allclose(merged, merge(torch.cat(expected), layout, 2), atol=1e-5)


@pytest.mark.parametrize('height, width, channels', [(45, 70, 3), (20, 13, 3), (40, 40, 1)])
def test_infer_image_flops_usage_and_shapes(height, width, channels):
    """FLOPs accounting is the mean of the per-patch subnet costs; odd sizes, a tiny and a gray image."""
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_in_ch=channels, num_out_ch=channels, num_feat=16, num_block=4, widths=(8, 16),
                        depths=(2, 4), upscale=2)
    scores = difficulty_scores(patch_gradient_vectors(torch.rand(200, channels, 16, 16) ** 3)).numpy()
    router = DifficultyClasses.from_scores(scores, 4, 16, 12)
    image = torch.rand(1, channels, height, width)
    result = Engine(net, RoutingData.of(router), 16, 12, max_batch=2).infer(image, make_row('ceil'))
    assert result.sr.shape == (1, channels, 2 * height, 2 * width)
    per_patch = [net.flops(net.subnets[i], (16, 16)) for i in result.subnet_ids]
    assert result.flops_per_patch == pytest.approx(np.mean(per_patch))
    assert len(result.subnet_ids) == len(result.layout.corners)
    assert result.router_flops_per_patch == router.flops(channels) > 0
    assert np.array_equal(result.subnet_ids, route_ceil(router.scores_and_classes(chop(image, result.layout))[1], 4, 4))
    full = Engine(net, RoutingData(), 16, 12).infer(image, make_row('fixed', subnet=net.full_subnet))
    assert full.flops_per_patch == net.flops(None, (16, 16)) and full.router_flops_per_patch == 0


def test_router_round_trip_and_target_calibration():
    scores = np.random.default_rng(0).gamma(2., 0.1, 5000)
    router = DifficultyClasses.from_scores(scores, 10, 32, 28)
    assert sum(router.class_counts) == 5000 and DifficultyClasses.from_dict(router.to_dict()) == router
    net = WBSRMSRResNet()
    costs = [net.flops(s) for s in net.subnets]
    alpha = router.alpha_for_target(costs, 0.65)
    classes = assign_classes(scores, router.thresholds)  # the training patches, one entry each
    achieved = np.asarray(costs)[route_budget(classes, 10, costs, alpha)].mean() / max(costs)
    assert abs(achieved - 0.65) <= 0.02


def heldout_images():
    """Photos the router below was not calibrated on, as ``(1, 3, H, W)`` LR images in [0, 1]."""
    return [torch.from_numpy(photo_rgb(name)[:200, :300].copy()).permute(2, 0, 1)[None].float() / 255.
            for name in ('chelsea', 'coffee', 'rocket', 'hubble_deep_field')]


@pytest.mark.parametrize('target', [0.3, 0.5, 0.65, 0.8])
def test_budget_scopes_hold_on_images_they_were_not_calibrated_on(target):
    """Calibrated on the astronaut photo: ``image`` scope holds every unseen image within 2 points,
    ``dataset`` scope the set within 1 point."""
    calibration = torch.from_numpy(photo_rgb('astronaut')).permute(2, 0, 1)[None].float() / 255.
    scores = difficulty_scores(patch_gradient_vectors(chop(calibration, PatchLayout.cover(512, 512, 32, 28)))).numpy()
    engine = Engine(WBSRMSRResNet(), RoutingData.of(DifficultyClasses.from_scores(scores, 10, 32, 28)), 32, 28)
    costs = engine.runner.costs
    image_row = make_row('target_flops', target=target, scope='image')
    for image in heldout_images():
        patches = engine.measure([image_row], image)
        assert patches.count >= 20
        achieved = costs[engine.allocate(image_row, [patches])].mean() / costs.max()
        assert abs(achieved - target) <= 0.02, achieved
    dataset_row = make_row('target_flops', target=target, scope='dataset')
    allocations = engine.first_pass([dataset_row], ((image, None) for image in heldout_images()),
                                    len(heldout_images())).ids[dataset_row.label]
    assert [len(a) for a in allocations] == [len(chop(i, PatchLayout.cover(*i.shape[-2:], 32, 28)))
                                             for i in heldout_images()]
    assert abs(costs[np.concatenate(allocations)].mean() / costs.max() - target) <= 0.01


def test_the_boundary_split_gives_the_bigger_subnet_to_the_hardest_patches():
    costs = np.array([1., 2., 4., 8.])
    scores = np.linspace(0, 1, 40)
    classes = np.minimum((scores * 10).astype(int), 9)
    allocation = allocate_to_target(classes, scores, 10, costs, 0.4)
    assert costs[allocation].mean() / costs.max() == pytest.approx(0.4, abs=0.02)
    assert np.all(np.diff(costs[allocation]) >= 0)  # cost never falls as the score rises


def test_inference_rows_from_options():
    net = WBSRMSRResNet()
    small = WBSRMSRResNet(widths=(36, 64), depths=(4, 16))
    rows = parse_rows([{'mode': 'ceil'}, {'mode': 'fixed', 'subnet': 'all'}, {'mode': 'target_flops', 'target': 0.5},
                       {'mode': 'budget', 'alpha': 0.8}], small)
    assert [r.label for r in rows] == ['ceil', *[f'fixed_{w}x{d}' for w, d in small.subnets], 'target_0.5_dataset',
                                       'budget_0.8']
    assert parse_rows([{'mode': 'fixed', 'subnet': [52, 8]}], net)[0].subnet == (52, 8)
    assert parse_rows([{'mode': 'fixed', 'subnet': 'full'}], net)[0].subnet == (64, 16)
    classifier = parse_rows([{'mode': 'classifier'}, {'mode': 'classifier', 'target': [0.5, 0.7], 'scope': 'image'}],
                            net)
    assert [(r.label, r.scope) for r in classifier] == [('classifier', None), ('classifier_0.5_image', 'image'),
                                                        ('classifier_0.7_image', 'image')]
    assert parse_rows([{'mode': 'classifier', 'target': 0.5}], net)[0].scope == 'dataset'
    for spec, message in [({'mode': 'fast'}, r'val.rows\[0\]: Unknown inference mode'),
                          ({'mode': 'ceil', 'alpha': 1}, 'ceil row: unknown option alpha; the known ones are ladder'),
                          ({'mode': 'budget'}, 'takes alpha'), ({'mode': 'budget', 'alpha': float('nan')}, 'positive'),
                          ({'mode': 'target_flops', 'target': 1.5}, r'\(0, 1\]'),
                          ({'mode': 'target_flops', 'target': 0.5, 'scope': 'epoch'}, 'scope must be one of'),
                          ({'mode': 'arm', 'target': 0.5, 'scope': 'train'}, 'scope must be one of'),
                          ({'mode': 'ceil', 'scope': 'image'}, 'unknown option scope'),
                          ({'mode': 'classifier', 'scope': 'image'}, 'takes no scope or budget_unit without a target'),
                          ({'mode': 'arm', 'target': 0.5, 'budget_unit': 'seconds'}, 'budget_unit must be one of'),
                          ({'mode': 'classifier', 'alpha': 1},
                           'option alpha; the known ones are budget_unit, scope, target'),
                          ({'mode': 'classifier', 'target': 0.5, 'ladder': 'pareto'}, 'unknown option ladder'),
                          ({'mode': 'fixed'}, 'takes a subnet'),
                          ({'mode': 'fixed', 'subnet': [50, 8]}, 'Unknown subnet'),
                          ({'mode': 'arm', 'target': 0.5, 'unit': 'time', 'budget_unit': 'time'},
                           "'unit' is the old name of 'budget_unit'; give only 'budget_unit'")]:
        with pytest.raises(ValueError, match=message):
            parse_rows([spec], net)
    with pytest.warns(FutureWarning, match="arm row: the option 'unit' is now called 'budget_unit'"):
        assert parse_rows([{'mode': 'arm', 'target': 0.5, 'unit': 'image_flops'}], net)[0].budget_unit == 'image_flops'
    with pytest.raises(ValueError, match='repeat'):
        parse_rows([{'mode': 'ceil'}, {'mode': 'ceil'}], net)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='stride'):
        PatchLayout.cover(40, 40, 32, 40)
    with pytest.raises(ValueError, match='FLOPs target'):
        alpha_for_target(np.arange(10), 10, [1, 2, 3], 1.5)
    with pytest.raises(ValueError, match='ascending'):
        alpha_for_target(np.arange(10), 10, [3, 2, 1], 0.5)


def test_the_oracle_beats_every_allocation_of_no_greater_cost():
    """On a real photo, the oracle's total patch error at a budget is no larger than that of the
    gradient router at the same budget, of any fixed subnet within it, or of random allocations."""
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=4, upscale=2, widths=(8, 12, 16), depths=(1, 2, 4)).eval()
    hr = torch.from_numpy(photo_rgb('chelsea')[:128, :192].copy()).permute(2, 0, 1)[None].float() / 255.
    lq = F.interpolate(hr, scale_factor=0.5, mode='bicubic', antialias=True).clamp(0, 1)
    calibration = torch.from_numpy(photo_rgb('astronaut')).permute(2, 0, 1)[None].float() / 255.
    router = DifficultyClasses.from_scores(difficulty_scores(patch_gradient_vectors(
        chop(calibration, PatchLayout.cover(512, 512, 32, 28)))).numpy(), 10, 32, 28)
    engine = Engine(net, RoutingData.of(router), 32, 28)
    costs = engine.runner.costs
    oracle_row, routed_row = (make_row('oracle', target=0.6, scope='image'),
                              make_row('target_flops', target=0.6, scope='image'))
    image = engine.measure([oracle_row, routed_row], lq, hr)
    errors = image.features['errors']['errors']
    rows = np.arange(len(errors))

    def total(allocation):
        return errors[rows, allocation].sum(), costs[allocation].mean() / costs.max()

    best, spent = total(engine.allocate(oracle_row, [image]))
    assert spent <= 0.62  # at most the budget (less when more FLOPs would not lower the error)
    routed = engine.allocate(routed_row, [image])
    rng = np.random.default_rng(0)
    rivals = [routed, *(np.full(len(rows), m) for m in range(len(costs))),
              *(rng.integers(0, len(costs), len(rows)) for _ in range(200))]
    for rival in rivals:
        error, cost = total(rival)
        if cost <= spent:
            assert best <= error * (1 + 1e-9), (error, cost)


def test_the_oracle_meets_its_budget_and_beats_rivals_on_graded_errors():
    """Errors that fall with cost, as in a trained supernet, with per-patch noise: the oracle spends
    its budget and no allocation of no greater cost has a smaller total error."""
    rng = np.random.default_rng(1)
    costs = np.array([1., 1.5, 2.5, 4., 6., 8.])
    errors = (1.0 / costs)[None, :] * rng.gamma(2., 1., (300, 1)) + rng.normal(0, 0.02, (300, 6))
    rows = np.arange(300)
    for target in (0.3, 0.5, 0.8):
        allocation = lagrangian_allocation(errors, costs, target)
        spent = costs[allocation].mean() / costs.max()
        assert spent == pytest.approx(target, abs=0.01)
        best = errors[rows, allocation].sum()
        for _ in range(300):
            rival = rng.integers(0, 6, 300)
            if costs[rival].mean() / costs.max() <= spent:
                assert best <= errors[rows, rival].sum()
        greedy = np.argsort(-errors[:, 0])[:int(300 * target)]  # hardest patches to the full network
        rival = np.zeros(300, dtype=np.int64)
        rival[greedy] = 5
        if costs[rival].mean() / costs.max() <= spent:
            assert best <= errors[rows, rival].sum()


def test_oracle_rows_need_the_gt():
    net = WBSRMSRResNet(num_feat=16, num_block=2, upscale=2, widths=(8, 16), depths=(1, 2)).eval()
    with pytest.raises(ValueError, match='needs the GT image'):
        Engine(net, RoutingData(), 32, 28).infer(torch.rand(1, 3, 40, 40),
                                                 make_row('oracle', target=0.5, scope='image'))
    with pytest.raises(ValueError, match='oracle scope must be one of'):
        make_row('oracle', target=0.5, scope='train')
