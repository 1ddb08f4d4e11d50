"""Routing beside the paper's router: ARM's edge table, the calibration and its Pareto ladder, the
fixed-frontier and oracle comparisons, the frontier plot; calibrate_routing.py and test.py end to end."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import basicsr.test
import basicsr.train
from conftest import (COLOUR_PHOTOS, NETWORK, PSNR, REPO, SCALE, load_script, make_row, paired_dataset, photo_rgb,
                      wbsr_train_options, write_paired_folder)
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.inference.engine import Engine
from wbsr_basicsr.routing import RoutingData
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.edges import GREY_WEIGHTS, EdgeTable, edge_scores
from wbsr_basicsr.routing.frontier import compare_rows, upper_frontier
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.routing.measure_calibration import measure_calibration
from wbsr_basicsr.runtime.patches import PatchLayout, chop
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors

CALIBRATE = REPO / 'scripts' / 'calibrate_routing.py'
PLOT = REPO / 'scripts' / 'plot_frontier.py'


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.


def test_edge_scores_are_the_mean_absolute_opencv_laplacian_of_the_grey_patch():
    rgb = photo_rgb('chelsea')[40:72, 100:132]
    grey = rgb.astype(np.float64) @ np.asarray(GREY_WEIGHTS)
    expected = np.abs(cv2.Laplacian(grey, cv2.CV_64F)).mean()  # 3 x 3 aperture, borders reflected (101)
    assert edge_scores(image_tensor(rgb))[0] == pytest.approx(expected, rel=1e-4)
    assert edge_scores(torch.full((1, 3, 32, 32), 0.5))[0] == 0


def test_edge_table_bins_means_empty_bins_and_lookup():
    psnr = np.array([[20., 21.], [22., 23.], [24., 25.], [30., 31.], [40., 41.], [42., 43.]])
    table = EdgeTable.build(np.array([0., 0.1, 0.9, 1.0, 2.9, 3.0]), psnr, num_bins=3)  # bins [0,1) [1,2) [2,3]
    assert table.edges == (0., 1., 2., 3.) and table.counts == (3, 1, 2)
    assert table.psnr == ((22., 23.), (30., 31.), (41., 42.))
    assert table.predict(np.array([-5., 0.5, 1.5, 2.5, 99.])).tolist() == [[22, 23], [22, 23], [30, 31], [41, 42],
                                                                           [41, 42]]
    gappy = EdgeTable.build(np.array([0., 0.2, 2.8, 3.0]), psnr[:4], num_bins=3)
    assert gappy.counts == (2, 0, 2) and gappy.psnr[1] == gappy.psnr[0]  # an empty bin takes its nearest (lower on a tie)
    assert EdgeTable.from_dict(json.loads(json.dumps(table.to_dict()))) == table
    with pytest.raises(ValueError, match='needs calibration patches'):
        EdgeTable.build(np.array([]), np.zeros((0, 2)))


def calibration(mean_psnr, subnets=((8, 1), (8, 2), (16, 1), (16, 2)), scale=2, fingerprint='abc') -> Calibration:
    table = EdgeTable.build(np.array([0., 1.]), np.array([mean_psnr, mean_psnr]), num_bins=2)
    return Calibration(tuple(subnets), scale, 32, fingerprint, 'test', 2, tuple(mean_psnr), table)


def test_the_pareto_ladder_keeps_the_subnets_better_than_every_cheaper_one():
    measured = [26.708, 26.755, 26.810, 26.748, 26.828, 26.912, 26.755, 26.860, 26.967]  # a real run's shape
    subnets = [(w, d) for w in (18, 26, 32) for d in (2, 4, 8)]
    assert calibration(measured, subnets).pareto_ladder() == (0, 1, 2, 4, 5, 8)
    assert calibration([1., 2., 3., 4.]).pareto_ladder() == (0, 1, 2, 3)
    assert calibration([4., 2., 3., 1.]).pareto_ladder() == (0, 3)  # the full network tops every ladder


def test_a_calibration_refuses_another_network():
    good = calibration([1., 2., 3., 4.])
    good.check([(8, 1), (8, 2), (16, 1), (16, 2)], 2, 32, 'abc', 'ckpt.pth')
    for args, reason in [(([(8, 1), (16, 2)], 2, 32, 'abc'), 'subnets'), (([(8, 1), (8, 2), (16, 1), (16, 2)], 4, 32,
                                                                             'abc'), 'scale 2 \\(network: 4\\)'),
                         (([(8, 1), (8, 2), (16, 1), (16, 2)], 2, 48, 'abc'), 'patch_size'),
                         (([(8, 1), (8, 2), (16, 1), (16, 2)], 2, 32, 'xyz'), 'parameters')]:
        with pytest.raises(ValueError, match=f'ckpt.pth: its routing calibration was measured on another network: '
                                             f'.*{reason}.*calibrate_routing.py'):
            good.check(*args, 'ckpt.pth')


def test_rows_against_the_fixed_frontier_and_the_oracle():
    def entry(mode, flops, psnr, scope=None):
        return dict(mode=mode, scope=scope, flops_percent=flops, psnr=psnr)

    summary = [entry('fixed', 25, 30.0), entry('fixed', 50, 30.2), entry('fixed', 60, 30.1), entry('fixed', 100, 30.5),
               entry('oracle', 50, 30.5, 'dataset'), entry('oracle', 80, 30.6, 'dataset'),
               dict(entry('oracle', 60, 30.3, 'image'), target=0.65),  # spent less than its target
               entry('target_flops', 75, 30.4, 'dataset'), entry('arm', 49.5, 30.25, 'dataset'),
               entry('target_flops', 65.5, 30.35, 'image'), entry('ceil', 20, 29.0)]
    compare_rows(summary, 'psnr')
    wbsr, arm, image, ceil = summary[-4:]
    assert wbsr['vs_fixed'] == pytest.approx(30.4 - 30.35) and wbsr['vs_oracle'] == pytest.approx(30.4 - 30.5833, abs=1e-3)
    assert arm['vs_fixed'] == pytest.approx(30.25 - 30.196) and arm['vs_oracle'] == pytest.approx(30.25 - 30.5)
    assert image['vs_oracle'] == pytest.approx(0.05)  # its own scope's oracle: 30.3 up to its 65% target, +0.5 point
    assert ceil['vs_fixed'] is None and ceil['vs_oracle'] is None  # below the cheapest subnet, the oracles
    assert 'vs_fixed' not in summary[0] and 'vs_oracle' not in summary[4]
    # a subnet under the line between two others is no reference: sharing the patches between those reaches the line
    points = [(25, 30.0), (50, 30.05), (60, 30.3), (80, 30.2), (100, 30.5), (100, 30.4)]
    assert upper_frontier(points) == [(25, 30.0), (60, 30.3), (100, 30.5)]
    assert upper_frontier([(25, 30.0), (50, 30.4), (100, 30.3)]) == [(25, 30.0), (50, 30.4)]
    assert upper_frontier([]) == []


def test_arm_and_pareto_budgets_hold_on_images_they_were_not_calibrated_on():
    """A calibration measured on one photo; on four others, ARM and the Pareto-ladder gradient router
    meet 0.3-0.8 of the full FLOPs on every image (2 points) and over the set (1 point)."""
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=4, upscale=2, widths=(8, 12, 16), depths=(1, 2, 4)).eval()
    hr = image_tensor(photo_rgb('astronaut')[:256, :256])
    lq = F.interpolate(hr, scale_factor=0.5, mode='bicubic', antialias=True).clamp(0, 1)
    measured = measure_calibration(net, [(lq, hr)], 2, 32, 28, 'abc', 'astronaut')
    router = DifficultyClasses.from_scores(difficulty_scores(patch_gradient_vectors(
        chop(lq, PatchLayout.cover(128, 128, 32, 28)))).numpy(), 10, 32, 28)
    engine = Engine(net, RoutingData.of(router, measured), 32, 28)
    costs = engine.runner.costs
    unseen = [image_tensor(photo_rgb(name)[:200, :300]) for name in ('chelsea', 'coffee', 'rocket', 'hubble_deep_field')]
    for target in (0.3, 0.5, 0.8):
        rows = [make_row('arm', target=target, scope='image'),
                make_row('target_flops', target=target, scope='image', ladder='pareto')]
        for row in rows:
            for image in unseen:
                achieved = costs[engine.allocate(row, [engine.measure([row], image)])].mean() / costs.max()
                assert abs(achieved - target) <= 0.02, (row.label, achieved)
        rows = [make_row('arm', target=target), make_row('target_flops', target=target, ladder='pareto')]
        allocations = engine.first_pass(rows, ((image, None) for image in unseen), len(unseen)).ids
        for row in rows:
            achieved = costs[np.concatenate(allocations[row.label])].mean() / costs.max()
            assert abs(achieved - target) <= 0.01, (row.label, achieved)
        ladder = measured.pareto_ladder()
        assert set(np.concatenate(allocations[rows[1].label])) <= set(ladder)


def test_the_oracle_beats_arm_and_both_ladders_at_equal_flops():
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=4, upscale=2, widths=(8, 12, 16), depths=(1, 2, 4)).eval()

    def pair(name, crop):
        hr = image_tensor(photo_rgb(name)[crop])
        return F.interpolate(hr, scale_factor=0.5, mode='bicubic', antialias=True).clamp(0, 1), hr

    calibration_lq, calibration_hr = pair('astronaut', np.s_[:256, :256])
    engine = Engine(net, RoutingData.of(DifficultyClasses.from_scores(difficulty_scores(patch_gradient_vectors(
        chop(calibration_lq, PatchLayout.cover(128, 128, 32, 28)))).numpy(), 10, 32, 28),
        measure_calibration(net, [(calibration_lq, calibration_hr)], 2, 32, 28, 'abc', 'astronaut')), 32, 28)
    lq, hr = pair('chelsea', np.s_[:128, :192])
    costs = engine.runner.costs
    rows = [make_row('oracle', target=0.6, scope='image'), make_row('arm', target=0.6, scope='image'),
            make_row('target_flops', target=0.6, scope='image'),
            make_row('target_flops', target=0.6, scope='image', ladder='pareto')]
    image = engine.measure(rows, lq, hr)
    errors = image.features['errors']['errors']
    index = np.arange(image.count)
    oracle, *routers = [engine.allocate(row, [image]) for row in rows]
    for allocation in routers:
        spent = costs[allocation].mean()
        at_that_cost = engine.allocate(make_row('oracle', target=spent / costs.max(), scope='image'), [image])
        assert costs[at_that_cost].mean() <= spent + 1e-9
        assert errors[index, at_that_cost].sum() <= errors[index, allocation].sum() * (1 + 1e-9)


def test_calibrate_then_route_with_arm_ladders_and_the_oracle_in_test_py(tmp_path, mini_div2k_x2, tiny_pairs,
                                                                         trained_wbsr, run_pipeline, monkeypatch):
    """train.py -> calibrate_routing.py on the training LMDBs -> test.py on other photos with ARM,
    Pareto-ladder and oracle rows -> plot_frontier.py; and the errors around them."""
    monkeypatch.chdir(tmp_path)
    trained = trained_wbsr
    held_out = write_paired_folder(tmp_path / 'heldout', SCALE, 96, COLOUR_PHOTOS[3:6])
    rows = [dict(mode='arm', target=[0.5, 0.8]), dict(mode='arm', target=0.6, scope='image'),
            dict(mode='target_flops', target=0.6, ladder='pareto'), dict(mode='ceil', ladder='pareto'),
            dict(mode='oracle', target=[0.4, 0.6, 0.8]), dict(mode='fixed', subnet='all')]

    def test_options(checkpoint, param_key='params', name='wbsr_routing_test'):
        # one name per run: BasicSR archives a results folder of the same name, to the second
        return dict(name=name, model_type='WBSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                    datasets=dict(test_1=paired_dataset('heldout', *held_out)), network_g=NETWORK,
                    routing=dict(patch_size=32, stride=28),
                    path=dict(pretrain_network_g=str(checkpoint), strict_load_g=True, param_key_g=param_key),
                    val=dict(save_img=False, rows=rows, metrics=dict(psnr=PSNR)))

    with pytest.raises(ValueError, match=r"rows \['arm_0.5_dataset', 'arm_0.8_dataset', 'arm_0.6_image', "
                                         r"'target_0.6_dataset_pareto', 'ceil_pareto'\] need a routing calibration "
                                         r'of this checkpoint: run python scripts/calibrate_routing.py'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, test_options(trained, name='wbsr_routing_uncalibrated'))

    calibrated = tmp_path / 'calibrated.pth'
    lmdbs = [str(mini_div2k_x2 / name) for name in ('DIV2K_train_HR_sub.lmdb',
                                                     f'DIV2K_train_LR_bicubic_X{SCALE}_sub.lmdb')]
    script = load_script('calibrate_routing', CALIBRATE)
    assert script.main(['--model', str(trained), '--gt', lmdbs[0], '--lq', lmdbs[1], '--output', str(calibrated)]) == 0
    content = torch.load(calibrated, weights_only=True)
    stored = Calibration.from_dict(content['wbsr']['calibration'])
    assert stored.scale == SCALE and stored.subnets == ((8, 1), (8, 2), (16, 1), (16, 2)) and stored.patches >= 12
    assert sum(stored.edge_table.counts) == stored.patches and stored.pareto_ladder()[0] == 0
    assert content['wbsr']['checksums'] == torch.load(trained, weights_only=True)['wbsr']['checksums']
    assert stored.quality is not None and 0 <= stored.gain_error < 5  # dB, held out
    assert stored.predict(torch.rand(3, 3, 32, 32)).shape == (3, 4)
    assert script.main(['--model', str(trained), '--gt', lmdbs[0], '--lq', str(held_out[1])]) == 2  # LMDB + folder
    from_folders = tmp_path / 'from_folders.pth'
    assert script.main(['--model', str(trained), '--gt', str(tiny_pairs[0]), '--lq', str(tiny_pairs[1]), '--output',
                        str(from_folders)]) == 0
    assert Calibration.from_dict(torch.load(from_folders, weights_only=True)['wbsr']['calibration']).patches == 3 * 4
    fewer = tmp_path / 'fewer_lq'  # an LR folder missing one of the HR folder's images: named, nothing written
    fewer.mkdir()
    for photo in sorted(Path(tiny_pairs[1]).iterdir())[1:]:
        shutil.copy(photo, fewer / photo.name)
    assert script.main(['--model', str(trained), '--gt', str(tiny_pairs[0]), '--lq', str(fewer), '--output',
                        str(tmp_path / 'unpaired.pth')]) == 2 and not (tmp_path / 'unpaired.pth').exists()
    routed = tmp_path / 'routing_only.pth'  # the calibration renewed, the time profile kept
    assert script.main(['--model', str(calibrated), '--gt', str(tiny_pairs[0]), '--lq', str(tiny_pairs[1]),
                        '--routing-only', '--output', str(routed)]) == 0
    renewed = torch.load(routed, weights_only=True)['wbsr']
    assert renewed['timing'] == content['wbsr']['timing'] and renewed['calibration']['patches'] == 3 * 4
    with pytest.raises(SystemExit):
        script.main(['--model', str(calibrated), '--time-only', '--routing-only'])

    run_pipeline(basicsr.test.test_pipeline, tmp_path, test_options(calibrated))
    results = tmp_path / 'results' / 'wbsr_routing_test'
    table = json.loads((results / 'wbsr_table_heldout.json').read_text())
    by_label = {row['row']: row for row in table['rows']}
    assert list(by_label) == ['arm_0.5_dataset', 'arm_0.8_dataset', 'arm_0.6_image', 'target_0.6_dataset_pareto',
                              'ceil_pareto', 'oracle_0.4_dataset', 'oracle_0.6_dataset', 'oracle_0.8_dataset',
                              'fixed_8x1', 'fixed_8x2', 'fixed_16x1', 'fixed_16x2']
    ladder = set(stored.pareto_ladder())
    for label in ('target_0.6_dataset_pareto', 'ceil_pareto'):
        assert {i for i, share in enumerate(by_label[label]['usage']) if share > 0} <= ladder
    for label in ('arm_0.5_dataset', 'arm_0.8_dataset', 'arm_0.6_image'):
        assert by_label[label]['router_gflops'] > 0 and {'vs_fixed', 'vs_oracle'} <= set(by_label[label])
    assert by_label['arm_0.5_dataset']['flops_percent'] < by_label['arm_0.8_dataset']['flops_percent']
    assert table['reference_metric'] == 'psnr'

    plot = load_script('plot_frontier', PLOT)
    assert plot.main([str(results / 'wbsr_table_heldout.json')]) == 0
    picture = cv2.imread(str(results / 'wbsr_table_heldout.png'))
    assert picture.shape[0] > 300 and picture.shape[1] > 500 and picture.std() > 10
    assert plot.main([str(results / 'wbsr_table_heldout.json'), '--x', 'time']) == 0  # PSNR against milliseconds
    assert cv2.imread(str(results / 'wbsr_table_heldout_time.png')).std() > 10

    with pytest.raises(ValueError, match='its routing calibration was measured on another network: parameters'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, test_options(calibrated, 'params_ema', 'wbsr_routing_ema'))
    training = wbsr_train_options(mini_div2k_x2, tiny_pairs, 1, name='wbsr_routing_again')
    training['path']['pretrain_network_g'] = str(calibrated)
    training['val']['rows'] = [dict(mode='arm', target=0.5)]
    with pytest.raises(ValueError, match='validate them after training'):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, training)
