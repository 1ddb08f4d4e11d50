"""LR-only inference: inference_wbsr.py on every kind of input, export_subnet.py, and test.py on
an LR-only set, with a WBSR supernet trained through train_pipeline."""
import json
import re
import shutil

import cv2
import numpy as np
import pytest
import torch

import basicsr.test
from basicsr.archs import build_network
from conftest import NETWORK, PSNR, REPO, SCALE, load_script, photo_rgb
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.utils.atomic import is_partial
from wbsr_cli.jobs.output_folder import LEDGER, OutputFolder

INFERENCE = REPO / 'inference' / 'inference_wbsr.py'
EXPORT = REPO / 'scripts' / 'export_subnet.py'


def supernet(checkpoint, key='params') -> WBSRMSRResNet:
    net = WBSRMSRResNet(**{k: v for k, v in NETWORK.items() if k != 'type'})
    net.load_state_dict(torch.load(checkpoint, weights_only=True)[key])
    return net.eval()


def bgr_tensor(bgr: np.ndarray, peak: float = 255.) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1]).astype(np.float32) / peak).permute(2, 0, 1)[None]


@pytest.fixture
def own_photos(tmp_path):
    """LR inputs as users have them: colour PNG and JPEG, grey, RGBA, 16-bit, and a broken file."""
    folder = tmp_path / 'own'
    folder.mkdir()
    colour = cv2.cvtColor(photo_rgb('chelsea')[:90, :120], cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / 'colour.png'), colour)
    cv2.imwrite(str(folder / 'photo.jpg'), colour)
    cv2.imwrite(str(folder / 'grey.png'), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))
    alpha = np.tile(np.linspace(0, 255, 120, dtype=np.uint8), (90, 1))
    cv2.imwrite(str(folder / 'rgba.png'), np.dstack([colour, alpha]))
    deep = (colour.astype(np.uint16) * 257 + np.arange(90 * 120 * 3, dtype=np.uint16).reshape(90, 120, 3) % 200)
    cv2.imwrite(str(folder / 'deep.png'), deep)
    (folder / 'broken.png').write_text('not an image')
    return folder


def test_inference_command_on_every_kind_of_input(tmp_path, own_photos, trained_wbsr, capsys):
    script = load_script('inference_wbsr', INFERENCE)
    out = tmp_path / 'out'
    status = script.main(['-i', str(own_photos), '-o', str(out), '--model', str(trained_wbsr), '--target', '0.6',
                          '--ladder', 'full', '--save-map'])
    printed = capsys.readouterr()
    assert status == 1 and 'broken.png: not a readable image' in printed.err and '1 input(s) skipped' in printed.err
    written = sorted(f'{name}_wbsr{suffix}' for name, ext in (('colour', 'png'), ('photo', 'jpg'), ('grey', 'png'),
                                                              ('rgba', 'png'), ('deep', 'png'))
                     for suffix in (f'.{ext}', '_subnets.png'))
    assert sorted(p.name for p in out.iterdir()) == sorted(written + [LEDGER])
    assert sorted(OutputFolder(out).outputs) == written  # what the command wrote, never read back as inputs
    assert '5 images, target 0.6 (image FLOPs, image scope, full ladder)' in printed.out
    assert 'colour.png: 120x90 -> 240x180' in printed.out
    spent = [float(v) for v in re.findall(r'-> \d+x\d+, [\d.]+ s, ([\d.]+)% of the full FLOPs', printed.out)]
    assert len(spent) == 5 and all(abs(v - 60) <= 3 for v in spent), spent  # overlaps counted
    colour = cv2.imread(str(out / 'colour_wbsr.png'), cv2.IMREAD_UNCHANGED)
    assert colour.shape == (180, 240, 3) and colour.dtype == np.uint8
    grey = cv2.imread(str(out / 'grey_wbsr.png'), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (180, 240)  # grey in, grey out
    rgba = cv2.imread(str(out / 'rgba_wbsr.png'), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (180, 240, 4)
    source_alpha = cv2.imread(str(own_photos / 'rgba.png'), cv2.IMREAD_UNCHANGED)[..., 3].astype(np.float32) / 255
    expected_alpha = np.clip(cv2.resize(source_alpha, (240, 180), interpolation=cv2.INTER_CUBIC), 0, 1) * 255
    assert np.abs(rgba[..., 3].astype(np.float32) - expected_alpha.round()).max() <= 1
    assert np.array_equal(rgba[..., :3], colour)  # alpha does not touch the colour
    deep = cv2.imread(str(out / 'deep_wbsr.png'), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (180, 240, 3)
    assert np.count_nonzero(deep % 257) > deep.size // 2  # 16-bit precision, not 8-bit values scaled
    assert not [p for p in out.iterdir() if is_partial(p.name)]


def test_full_and_subnet_outputs_are_the_networks_and_export_round_trips(tmp_path, own_photos, trained_wbsr):
    """--full is one forward of the full network on the whole image; --subnet 8,2 equals the
    exported plain MSRResNet on the same image."""
    script = load_script('inference_wbsr', INFERENCE)
    colour = cv2.imread(str(own_photos / 'colour.png'))
    net = supernet(trained_wbsr)
    for flag, subnet in ((['--full'], None), (['--subnet', '8,2'], (8, 2))):
        out = tmp_path / f'out_{subnet}'
        assert script.main(['-i', str(own_photos / 'colour.png'), '-o', str(out), '--model', str(trained_wbsr),
                            *flag, '--suffix', '']) == 0
        with torch.no_grad(), net.subnet(subnet):
            expected = net(bgr_tensor(colour)).clamp(0, 1)[0].permute(1, 2, 0).numpy()[..., ::-1]
        written = cv2.imread(str(out / 'colour.png'))
        assert np.abs(written.astype(np.float32) - expected * 255).max() <= 0.5 + 1e-3
    export = load_script('export_subnet', EXPORT)
    assert export.main(['--model', str(trained_wbsr), '--subnet', '8,2', '--output', str(tmp_path / 'plain.pth')]) == 0
    plain = build_network(dict(type='MSRResNet', num_in_ch=3, num_out_ch=3, num_feat=8, num_block=2, upscale=SCALE))
    plain.load_state_dict(torch.load(tmp_path / 'plain.pth', weights_only=True)['params'], strict=True)
    lq = bgr_tensor(colour)
    with torch.no_grad(), net.subnet((8, 2)):
        assert torch.allclose(plain.eval()(lq), net(lq), atol=1e-5)
    assert export.main(['--model', str(trained_wbsr), '--subnet', '9,2', '--output', str(tmp_path / 'x.pth')]) == 2


def test_folder_scope_and_bad_invocations(tmp_path, own_photos, trained_wbsr, capsys):
    script = load_script('inference_wbsr', INFERENCE)
    (own_photos / 'broken.png').unlink()
    assert script.main(['-i', str(own_photos), '-o', str(tmp_path / 'f'), '--model', str(trained_wbsr),
                        '--target', '0.6', '--scope', 'folder', '--ladder', 'full', '--ext', 'png']) == 0
    out = capsys.readouterr().out
    assert '5 images, target 0.6 (image FLOPs, folder scope, full ladder)' in out
    assert abs(float(re.search(r'per image\), ([\d.]+)% of the full FLOPs', out).group(1)) - 60) <= 1
    assert len(list((tmp_path / 'f').glob('*_wbsr.png'))) == 5
    base = ['-i', str(own_photos), '-o', str(tmp_path / 'x'), '--model', str(trained_wbsr)]
    cases = [(['--target', '0.6', '--fp16'], '--fp16 runs under CUDA autocast; it needs a CUDA device'),
             (['--target', '1.5', '--ladder', 'full'], r"--target 1.5: give a share of the full network's FLOPs in \(0, 1\]"),
             (['--subnet', '8x2'], '--subnet 8x2: expected W,D'),
             (['--ceil', '--ladder', 'pareto'], r"rows \['ceil_pareto'\] need a routing calibration"),
             (['-i', str(tmp_path / 'missing'), '--full'], 'missing: no such file or folder')]
    stripped = tmp_path / 'stripped.pth'
    content = torch.load(trained_wbsr, weights_only=True)
    del content['wbsr']['network']
    torch.save(content, stripped)
    cases.append((['--model', str(stripped), '--full'], 'does not record its network.s options.*-opt'))
    for extra, message in cases:
        assert script.main(base + extra) == 2
        assert re.search(message, capsys.readouterr().err), message
    shutil.rmtree(tmp_path / 'x', ignore_errors=True)
    option_file = tmp_path / 'net.yml'
    option_file.write_text(json.dumps({'network_g': NETWORK}))
    assert script.main(base + ['--model', str(stripped), '--full', '-opt', str(option_file)]) == 0


def test_test_py_on_an_lr_only_set_with_and_without_metrics(tmp_path, tiny_pairs, trained_wbsr, run_pipeline,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    for metrics in ({}, {'psnr': PSNR}):
        name = f'lr_only_{len(metrics)}'
        opt = dict(name=name, model_type='WBSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                   datasets=dict(test_1=dict(name='own', type='SingleImageDataset', dataroot_lq=str(tiny_pairs[1]),
                                             io_backend=dict(type='disk'))),
                   network_g=NETWORK, routing=dict(patch_size=32, stride=28),
                   path=dict(pretrain_network_g=str(trained_wbsr), strict_load_g=True, param_key_g='params'),
                   val=dict(save_img=True, rows=[dict(mode='target_flops', target=0.6, ladder='full'),
                                                 dict(mode='fixed', subnet='full')], metrics=metrics))
        run_pipeline(basicsr.test.test_pipeline, tmp_path, opt)
        results = tmp_path / 'results' / name
        table = json.loads((results / 'wbsr_table_own.json').read_text())
        assert [row['row'] for row in table['rows']] == ['target_0.6_dataset', 'fixed_16x2']
        assert 'psnr' not in table['rows'][0] and table['rows'][0]['flops_percent'] > 0
        assert len(list((results / 'visualization' / 'own').glob('*_target_0.6_dataset.png'))) == 3
    opt['name'], opt['val']['rows'] = 'lr_only_oracle', [dict(mode='oracle', target=0.6)]
    with pytest.raises(ValueError, match='oracle_0.6_dataset: each needs the GT image'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, opt)


def test_model_test_and_visuals_run_the_primary_row(tiny_pairs, trained_wbsr):
    """WBSRModel.test() gives what the table's first row reports, not silently the full network."""
    from basicsr.models import build_model
    opt = dict(name='primary', model_type='WBSRModel', scale=SCALE, num_gpu=0, is_train=False, dist=False,
               network_g=NETWORK, routing=dict(patch_size=32, stride=28),
               path=dict(pretrain_network_g=str(trained_wbsr), strict_load_g=True, param_key_g='params'),
               val=dict(rows=[dict(mode='target_flops', target=0.3, scope='image', ladder='full'),
                              dict(mode='fixed', subnet='full')]))
    model = build_model(opt)
    lq = bgr_tensor(cv2.imread(str(sorted(tiny_pairs[1].iterdir())[0])))
    model.feed_data({'lq': lq})
    model.test()
    shown = model.get_current_visuals()['result']
    evaluator = model.evaluator
    assert torch.equal(shown, evaluator.infer(model.supernet, lq, evaluator.rows[0]).sr.cpu())
    assert not torch.allclose(shown, evaluator.infer(model.supernet, lq, evaluator.rows[1]).sr.cpu(), atol=1e-4)
