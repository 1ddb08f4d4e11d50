"""Budgets in time: the time profile's predictions, its measurement, rows held to a share of the full
network's time on images they never saw, the fall-back to one subnet on the whole image, and the
inference command and test.py with time rows."""
import json
import re
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import basicsr.test
from conftest import REPO, load_script, make_row, photo_rgb, rows_test_options
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.budgets import BUDGET_UNITS
from wbsr_basicsr.inference.engine import Engine
from wbsr_basicsr.inference.supernet_entry import SupernetEntry
from wbsr_basicsr.routing import RoutingData
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.routing.measure_calibration import measure_calibration
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile, device_name, host_name, measure_time_profile, rescale_profile
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors
from wbsr_cli.jobs.infer import BUDGET_SLACK


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.


def profile(patch, whole_per_pixel, call=1e-3, overhead=1e-4) -> TimeProfile:
    """A time profile with the given seconds per patch and per whole-image LR pixel, per subnet."""
    return TimeProfile('test device', 32, tuple([call] * len(patch)), tuple(patch), overhead, (1024, 65536),
                       tuple((1024 * p, 65536 * p) for p in whole_per_pixel))


def test_the_profile_predicts_whole_images_by_pixels_and_routed_ones_by_batches():
    timing = TimeProfile('d', 32, (0.01, 0.02), (0.001, 0.004), 0.0005, (100, 200, 400), ((1., 2., 4.), (2., 3., 5.)))
    assert timing.whole_seconds(0, 150) == pytest.approx(1.5)  # between measured sizes: linear
    assert timing.whole_seconds(1, 600) == pytest.approx(7.)  # beyond them: along the last piece
    ids = np.array([0] * 5 + [1] * 3)
    # batches of 4: two calls of subnet 0, one of subnet 1; 8 patches of overhead
    assert timing.routed_seconds(ids, 4) == pytest.approx(2 * 0.01 + 0.02 + 5 * 0.001 + 3 * 0.004 + 8 * 0.0005)
    assert TimeProfile.from_dict(json.loads(json.dumps(timing.to_dict()))) == timing


def test_measuring_a_profile_times_every_subnet_whole_and_in_tiles():
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=2, upscale=2, widths=(8, 16), depths=(1, 2)).eval()
    runner = Runner(net, 32, 28, max_batch=16, tile_pad=6)
    measured = measure_time_profile(runner, device_name(torch.device('cpu')), sides=(32, 64), repeats=1, batch=16,
                                    tile_sides=(4, 24, 32, 64))
    assert measured.device == f'cpu {torch.get_num_threads()} threads, float32'
    assert len(measured.patch) == len(measured.call) == len(measured.whole) == 4 and measured.pixels == (1024, 4096)
    assert min(measured.patch) > 0 and measured.overhead > 0 and min(min(row) for row in measured.whole) > 0
    # tiles no larger than the margin or the largest image are not timed; the others, for every subnet
    assert measured.tile_pad == 6 and measured.tile_sides == (24, 32)
    assert len(measured.tiled) == 4 and all(len(row) == 2 and min(row) > 0 for row in measured.tiled)
    assert TimeProfile.from_dict(json.loads(json.dumps(measured.to_dict()))) == measured


def test_networks_that_pool_the_whole_input_are_never_timed_in_tiles():
    from wbsr_basicsr.archs.wbsr_rcan_arch import WBSRRCAN
    net = WBSRRCAN(num_feat=16, num_group=1, num_block=2, squeeze_factor=4, upscale=2, widths=(8, 16),
                   depths=(1, 2)).eval()
    measured = measure_time_profile(Runner(net, 32, 28, max_batch=16), 'd', sides=(32, 64), repeats=1, batch=16,
                                    tile_sides=(32,))
    assert measured.tile_sides == () and measured.tiled == ((),) * 4


def tiled_profile(shares) -> TimeProfile:
    """Subnets timed on a CPU whole on 32 x 32 and 64 x 64 images, and on the latter in tiles of 16
    and 32 (4-pixel margins) taking ``shares[m]`` of the whole image's seconds."""
    count = len(shares)
    return TimeProfile('cpu 2 threads, float32', 32, (0.,) * count, (1e-3,) * count, 0., (1024, 4096), ((1., 4.),) * count, 4, (16, 32),
                       tuple(tuple(row) for row in shares))


def test_whole_images_run_in_tiles_only_where_they_measured_faster():
    timing = tiled_profile([(0.99, 0.98), (0.95, 0.80), (1.02, 1.05)])
    assert timing.faster_tile(0, 4096) is None  # 2% faster: within the noise
    assert timing.faster_tile(1, 4096) == 32 and timing.faster_tile(1, 100 * 100) == 32
    assert timing.faster_tile(1, 4095) is None  # smaller than the image it was measured on
    # on a CPU, images 8 x the largest timed run in tiles that were no slower on it
    assert timing.faster_tile(2, 8 * 4096 - 1) is None and timing.faster_tile(2, 8 * 4096) == 16
    assert replace(timing, device='cuda NVIDIA H100, float16').faster_tile(2, 10 ** 6) is None
    old = TimeProfile.from_dict({key: value for key, value in timing.to_dict().items()
                                 if key not in ('tile_pad', 'tile_sides', 'tiled', 'host')})
    assert old.faster_tile(1, 10 ** 6) is None  # profiles measured before tiles were timed never tile


def test_the_runner_runs_and_prices_whole_images_in_the_tiles_its_profile_chose():
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=2, upscale=2, widths=(8, 16), depths=(1, 2)).eval()
    shares = [(1.0, 1.0)] * 3 + [(0.95, 0.80)]  # only the full network (the last) runs faster in tiles of 32
    timing = tiled_profile(shares)
    lq = image_tensor(photo_rgb('coffee')[:80, :100])
    runner = Engine(net, RoutingData.of(timing), 32, 28).runner  # the engine's runner prices by its profile
    untiled = Runner(net, 32, 28, tile=0, timing=timing)
    assert runner.tiles(80, 100, 0).count == 1 and untiled.tiles(80, 100).count == 1
    tiles = runner.tiles(80, 100)
    assert tiles.count == 12 and tiles.regions[:, 2:].max(0).tolist() == [80, 100]
    with torch.no_grad():
        difference = (runner.run_whole(3, lq) - untiled.run_whole(3, lq)).abs().max().item()
    assert difference * 255 <= 1
    # priced and counted as they run: every window, margins included
    windows = tiles.window_pixels()
    assert runner.subnet_image_seconds(3, 80, 100) == pytest.approx(sum(timing.whole_seconds(3, p) for p in windows))
    assert untiled.subnet_image_seconds(3, 80, 100) == pytest.approx(timing.whole_seconds(3, 8000))
    assert runner.subnet_image_flops(3, 80, 100) > untiled.subnet_image_flops(3, 80, 100)


def router_of(image: torch.Tensor) -> DifficultyClasses:
    from wbsr_basicsr.runtime.patches import PatchLayout, chop
    layout = PatchLayout.cover(image.shape[-2], image.shape[-1], 32, 28)
    return DifficultyClasses.from_scores(difficulty_scores(patch_gradient_vectors(chop(image, layout))).numpy(),
                                         10, 32, 28)


@pytest.mark.parametrize('target', [0.4, 0.6, 0.8])
def test_a_time_budget_holds_on_images_it_never_saw(target):
    """Predicted seconds, calls and overhead included, within 3% of the target share of the full
    network's whole-image seconds, on every unseen photo, on both ladders' orders of cost."""
    net = WBSRMSRResNet(num_feat=16, num_block=4, upscale=2, widths=(8, 12, 16), depths=(1, 2, 4)).eval()
    patch = 1e-3 * np.array([1.0, 1.2, 1.9, 1.6, 2.0, 2.4, 2.2, 2.9, 3.5])  # not in FLOPs order (1.9 > 1.6)
    timing = profile(patch, patch / 700)  # per LR pixel the whole image costs 0.68 of a patch (overlap)
    engine = Engine(net, RoutingData.of(router_of(image_tensor(photo_rgb('astronaut'))), timing), 32, 28)
    row = make_row('target_flops', target=target, scope='image', budget_unit='time')
    assert row.label == f'target_{target:g}_image_time'
    for name in ('chelsea', 'coffee', 'rocket', 'hubble_deep_field'):
        image = engine.measure([row], image_tensor(photo_rgb(name)[:200, :300]))
        ids = engine.allocate(row, [image])
        share = BUDGET_UNITS['time'].share(engine.runner, image.layout, ids)
        assert share <= target * 1.001 and share >= target - 0.03, (name, share)
        assert set(ids) <= set(range(9))


def test_routing_falls_back_to_a_subnet_on_the_whole_image_where_it_cannot_win():
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=2, upscale=2, widths=(8, 16), depths=(1, 2)).eval()
    hr = image_tensor(photo_rgb('chelsea')[:128, :192])
    lq = F.interpolate(hr, scale_factor=0.5, mode='bicubic', antialias=True).clamp(0, 1)
    measured = measure_calibration(net, [(lq, hr)], 2, 32, 28, 'abc', 'chelsea')
    patch = 1e-3 * np.array([1., 1.3, 2.5, 3.])
    row = make_row('target_flops', target=0.6, scope='image', budget_unit='time')
    # whole images 3x cheaper per pixel than patches: a subnet on the whole image gets more per second
    cheap_whole = Engine(net, RoutingData.of(router_of(lq), measured, profile(patch, patch / 3072)), 32, 28)
    result = cheap_whole.infer(lq, row)
    chosen = int(result.subnet_ids[0])
    assert result.fallback and np.all(result.subnet_ids == chosen) and result.layout.count == len(result.subnet_ids)
    with torch.no_grad(), net.subnet(net.subnets[chosen]):
        assert torch.allclose(result.sr, net(lq), atol=1e-5)  # that subnet, on the whole image
    assert result.time_share <= 0.6
    # whole images 100x dearer per pixel: the budget runs every patch through the full network, better
    # than any subnet that fits on the whole image: routing runs
    dear_whole = Engine(net, RoutingData.of(router_of(lq), measured, profile(patch, patch / 10)), 32, 28)
    routed = dear_whole.infer(lq, row)
    assert not routed.fallback and set(routed.subnet_ids) == {3} and routed.time_share <= 0.6
    # without a calibration there is no quality to compare: routing runs where it meets the budget ...
    assert not Engine(net, RoutingData.of(router_of(lq), profile(patch, patch / 700)), 32, 28).infer(
        lq, row).fallback
    # ... and where it cannot, the dearest subnet that fits the budget on the whole image does (12 patches of
    # at least 1 ms against 0.6 x 6 ms; on the whole image 8x1 and 8x2 fit)
    fitted = Engine(net, RoutingData.of(router_of(lq), profile(patch, patch / 3072)), 32, 28).infer(lq, row)
    assert fitted.fallback and set(fitted.subnet_ids) == {1} and fitted.time_share <= 0.6


def test_time_rows_in_the_command_and_in_test_py(tmp_path, tiny_pairs, trained_wbsr, run_pipeline, monkeypatch,
                                                 capsys):
    monkeypatch.chdir(tmp_path)
    script = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py')
    assert script.main(['-i', str(tiny_pairs[0]), '-o', str(tmp_path / 'out'), '--model', str(trained_wbsr),
                        '--target-time', '0.5', '--scope', 'image']) == 0
    printed = capsys.readouterr()
    assert f'holds no time profile for {device_name(torch.device("cpu"))}: measuring one' in printed.err
    assert '3 images, target time 0.5 (image scope, units image,tile160), cpu' in printed.out
    assert 'dB predicted' not in printed.out  # no calibration: plans are ranked by FLOPs, no PSNR is claimed
    lines = [line for line in printed.out.splitlines() if "of the full network's predicted time" in line]
    assert len(lines) == 3
    for line in lines:  # within the budget, or said not to be (measured times: this tiny network may not fit it)
        share = float(re.search(r"(\d+)% of the full network's predicted time", line).group(1))
        assert share <= 50 + 100 * BUDGET_SLACK or 'over the budget: 0.5 cannot be met on this image' in line, line
        assert re.search(r'\(\d+\.\d\d s predicted\)', line), line  # beside the measured seconds
    assert script.main(['-i', str(tiny_pairs[0]), '-o', str(tmp_path / 'out_folder'), '--model', str(trained_wbsr),
                        '--target-time', '0.5']) == 0
    assert '3 images, target time 0.5 (folder scope, units image,tile160)' in capsys.readouterr().out  # the default
    assert script.main(['-i', str(tiny_pairs[0]), '-o', str(tmp_path / 'out_open'), '--model', str(trained_wbsr),
                        '--row', '{mode: plan, target: 0.5, scope: dataset, closed_loop: false}']) == 0
    assert '3 images, plan_0.5_dataset_open' in capsys.readouterr().out
    tiny = tmp_path / 'tiny'
    tiny.mkdir()
    cv2.imwrite(str(tiny / 'dot.png'), cv2.cvtColor(photo_rgb('coffee')[:10, :12], cv2.COLOR_RGB2BGR))
    assert script.main(['-i', str(tiny), '-o', str(tmp_path / 'out_tiny'), '--model', str(trained_wbsr),
                        '--target', '0.65', '--ladder', 'full']) == 0
    assert re.search(r'dot.png: 12x10 -> 24x20, .*% of the full FLOPs .*; over the budget: 0.65 cannot be met on '
                     'this image', capsys.readouterr().out)  # one 32 x 32 patch for 120 pixels
    rows = [dict(mode='target_flops', target=0.5, scope='image', budget_unit='time', ladder='full'),
            dict(mode='fixed', subnet='full')]
    opt = rows_test_options('time_rows', trained_wbsr, tiny_pairs, rows)
    with pytest.raises(ValueError, match=r"rows \['target_0.5_image_time'\] need a time profile of this supernet on "
                                         'this device'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, opt)
    timed = tmp_path / 'timed.pth'
    calibrate_script = load_script('calibrate_routing', REPO / 'scripts' / 'calibrate_routing.py')
    assert calibrate_script.main(['--model', str(trained_wbsr), '--time-only', '--output', str(timed)]) == 0
    assert 'time profile on cpu' in capsys.readouterr().out
    stored = torch.load(timed, weights_only=True)['wbsr']
    assert [p['device'] for p in stored['timing']] == [device_name(torch.device('cpu'))] and not stored['calibration']
    opt['path']['pretrain_network_g'] = str(timed)
    run_pipeline(basicsr.test.test_pipeline, tmp_path, opt)
    table = json.loads((tmp_path / 'results' / 'time_rows' / 'wbsr_table_tiny.json').read_text())
    time_row = table['rows'][0]
    assert time_row['row'] == 'target_0.5_image_time' and 'time_percent' not in table['rows'][1]
    images = time_row['per_image']
    assert time_row['time_percent'] == pytest.approx(np.mean([image['time_percent'] for image in images]))
    assert time_row['fallbacks'] == sum(image['fallback'] for image in images)
    for host, noted in ((host_name(torch.device('cpu')), False), ('another processor', True)):
        entry = SupernetEntry.read(str(timed))
        moved = replace(entry, timing=tuple(replace(profile, host=host) for profile in entry.timing))
        torch.save(moved.store(torch.load(timed, weights_only=True)), tmp_path / 'moved.pth')
        assert script.main(['-i', str(tiny_pairs[0]), '-o', str(tmp_path / 'out'), '--model',
                            str(tmp_path / 'moved.pth'), '--target-time', '0.5']) == 0
        note = f"its time profile for {device_name(torch.device('cpu'))} was measured on another processor, this is"
        assert (note in capsys.readouterr().err) == noted


def test_a_profile_measured_for_a_new_device_or_thread_count_is_kept_in_the_cache_and_reused(
        tmp_path, tiny_pairs, trained_wbsr, monkeypatch, capsys):
    import wbsr_basicsr.inference.upscaler as upscaler_module
    measure, measured = upscaler_module.measure_time_profile, []

    def quick(engine, name):  # the real measurement on two small sizes, once each
        measured.append(name)
        return measure(engine, name, sides=(32, 64), repeats=1, batch=16, tile_sides=())

    monkeypatch.setattr(upscaler_module, 'measure_time_profile', quick)
    cache = tmp_path / 'cache'
    monkeypatch.setenv('WBSR_CACHE_DIR', str(cache))
    script = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py')
    threads = torch.get_num_threads()
    for count in (threads, threads, 1, 1):
        torch.set_num_threads(count)
        try:
            assert script.main(['-i', str(tiny_pairs[1]), '-o', str(tmp_path / f'out{count}'), '--model',
                                str(trained_wbsr), '--target-time', '0.5']) == 0
        finally:
            torch.set_num_threads(threads)
        error = capsys.readouterr().err
        assert ('measuring one (once: it is kept in' in error) != ('using the one measured here earlier' in error)
    names = [device_name(torch.device('cpu'))] + ([] if threads == 1 else ['cpu 1 threads, float32'])
    assert measured == names  # once per thread count, then reused
    kept = sorted(cache.rglob('*.json'))
    assert len(kept) == len(names) and {json.loads(path.read_text())['device'] for path in kept} == set(names)
    assert not [path for path in tmp_path.rglob('*.json') if cache not in path.parents]  # nothing beside the images


def test_a_profile_of_another_thread_count_is_rescaled_in_seconds_not_measured(tmp_path, tiny_pairs, trained_wbsr,
                                                                             monkeypatch, capsys):
    """A checkpoint holding only another thread count's profile: the command times three subnets on one
    image and scales that profile by them (each subnet by one factor), measures nothing in full, and
    keeps the result in the cache."""
    import wbsr_basicsr.inference.upscaler as upscaler_module
    monkeypatch.setattr(upscaler_module, 'measure_time_profile', lambda *args: pytest.fail('measured in full'))
    monkeypatch.setenv('WBSR_CACHE_DIR', str(tmp_path / 'cache'))
    upscaler = upscaler_module.Upscaler.from_checkpoint(str(trained_wbsr))
    other = measure_time_profile(upscaler.engine.runner, 'cpu 7 threads, float32', sides=(32, 64, 160), repeats=1,
                                 batch=16, tile_sides=())
    rescaled = rescale_profile(upscaler.engine.runner, other, 'cpu here, float32', repeats=1)
    for before, after in zip(other.whole, rescaled.whole):
        assert np.allclose(np.asarray(after) / before, after[0] / before[0])
    assert rescaled.device == 'cpu here, float32' and rescaled.rescaled_from.startswith('cpu 7 threads, float32')
    assert TimeProfile.from_dict(rescaled.to_dict()) == rescaled

    entry = SupernetEntry.read(str(trained_wbsr))
    torch.save(replace(entry, timing=(other,)).store(torch.load(trained_wbsr, weights_only=True)), tmp_path / 'o.pth')
    script = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py')
    assert script.main(['-i', str(tiny_pairs[1]), '-o', str(tmp_path / 'out'), '--model', str(tmp_path / 'o.pth'),
                        '--target-time', '0.5']) == 0
    assert 'its profile for cpu 7 threads, float32 on ' in capsys.readouterr().err
    (kept,) = (tmp_path / 'cache').rglob('*.json')
    assert json.loads(kept.read_text())['rescaled_from'].startswith('cpu 7 threads, float32')
