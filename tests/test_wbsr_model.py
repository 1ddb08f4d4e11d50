"""WBSRModel through BasicSR's real train / resume / test pipelines, on prepared LMDBs of real photos."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import basicsr.test
import basicsr.train
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img
from conftest import NETWORK, PSNR, SCALE, make_row, newest_log, paired_dataset, wbsr_train_options
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.inference.engine import Engine
from wbsr_basicsr.routing import RoutingData

ROWS = [dict(mode='ceil'), dict(mode='target_flops', target=0.6, scope='train'),
        dict(mode='target_flops', target=0.6, scope='image'), dict(mode='target_flops', target=0.6),
        dict(mode='oracle', target=0.6, scope='image'), dict(mode='oracle', target=0.6), dict(mode='budget', alpha=1.0), dict(mode='fixed', subnet='all')]
SSIM = dict(type='calculate_ssim', crop_border=SCALE, test_y_channel=True)


def test_train_resume_and_test_with_hes_and_bdloss(tmp_path, mini_div2k_x2, tiny_pairs, run_pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiment = tmp_path / 'experiments' / 'wbsr_tiny'
    run_pipeline(basicsr.train.train_pipeline, tmp_path, wbsr_train_options(mini_div2k_x2, tiny_pairs, 4))
    log = newest_log(experiment, 'train')
    assert len(re.findall(r'l_pix: ', log)) == 4 and len(re.findall(r'l_pix_sum: ', log)) == 4
    sigmas = [float(v) for v in re.findall(r'bdloss/sigma: ([-+.\deE]+)', log)]
    assert len(sigmas) == 4 and sigmas[-1] != pytest.approx(0.05, abs=1e-6)  # sigma learns
    levels = [float(v) for v in re.findall(r'hes/class_level: ([.\deE+-]+)', log)]
    assert levels[:2] == [0.0, 0.0] and levels[2:] == [1.0, 1.0]  # class-level from iteration 3
    assert re.search(r'WBSR tiny_val: 3 images', log) and re.search(r'\n\s*ceil\s+\d+\.\d+', log)
    checkpoint = torch.load(experiment / 'models' / 'net_g_4.pth', weights_only=True)
    extras = checkpoint['wbsr']
    assert set(checkpoint) == {'params', 'params_ema', 'wbsr'}
    assert len(extras['router']['thresholds']) == 9 and extras['router']['patch_size'] == 32
    assert extras['sigma'] == pytest.approx(sigmas[-1], rel=1e-3)
    assert extras['prior']['space'] == 'intensity' and len(extras['prior']['weights']) == 3
    plain = WBSRMSRResNet(**{k: v for k, v in NETWORK.items() if k != 'type'})
    plain.load_state_dict(checkpoint['params'], strict=True)  # keys of BasicSR's MSRResNet

    # Resume past the switch: class-level from the first batch, sigma and optimizer state restored.
    run_pipeline(basicsr.train.train_pipeline, tmp_path, wbsr_train_options(mini_div2k_x2, tiny_pairs, 6),
                 '--auto_resume')
    log = newest_log(experiment, 'train')
    assert 'Resuming training from epoch: ' in log and 'iter: 4.' in log
    assert [float(v) for v in re.findall(r'hes/class_level: ([.\deE+-]+)', log)] == [1.0, 1.0]
    resumed_sigmas = [float(v) for v in re.findall(r'bdloss/sigma: ([-+.\deE]+)', log)]
    assert abs(resumed_sigmas[0] - sigmas[-1]) < abs(sigmas[-1] - 0.05)  # continues, not restarted at 0.05

    # test.py: every row, the checkpoint alone supplies the routing thresholds.
    test_opt = dict(name='wbsr_tiny_test', model_type='WBSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                    datasets=dict(test_1=paired_dataset('tiny_test', *tiny_pairs)), network_g=NETWORK,
                    routing=dict(patch_size=32, stride=28),
                    path=dict(pretrain_network_g=str(experiment / 'models' / 'net_g_latest.pth'), strict_load_g=True,
                              param_key_g='params_ema'),
                    val=dict(save_img=True, suffix=None, rows=ROWS, metrics=dict(psnr=PSNR, ssim=SSIM)))
    run_pipeline(basicsr.test.test_pipeline, tmp_path, test_opt)
    results = tmp_path / 'results' / 'wbsr_tiny_test'
    table = json.loads((results / 'wbsr_table_tiny_test.json').read_text())
    labels = [row['row'] for row in table['rows']]
    assert labels == ['ceil', 'target_0.6_train', 'target_0.6_image', 'target_0.6_dataset', 'oracle_0.6_image',
                      'oracle_0.6_dataset', 'budget_1', 'fixed_8x1', 'fixed_8x2', 'fixed_16x1', 'fixed_16x2']
    by_label = {row['row']: row for row in table['rows']}
    assert by_label['fixed_16x2']['flops_percent'] == pytest.approx(100.)
    assert by_label['fixed_8x1']['flops_percent'] < by_label['fixed_16x2']['flops_percent']
    # Budgets on these unseen images: the set within 1 point; with 4 patches an image, as close as they allow.
    assert by_label['target_0.6_dataset']['flops_percent'] == pytest.approx(60, abs=1)
    assert sorted(i['image'] for i in by_label['ceil']['per_image']) == sorted(p.stem for p in tiny_pairs[0].iterdir())
    assert by_label['ceil']['psnr'] == pytest.approx(np.mean([i['psnr'] for i in by_label['ceil']['per_image']]))
    for row in table['rows']:
        assert sum(row['usage']) == pytest.approx(1.)
        assert row['patches'] == 3 * 4  # 48 x 48 LR, 32-pixel patches every 28 px: 2 x 2 each
        routed = not row['row'].startswith(('fixed', 'oracle'))
        assert row['router_gflops'] > 0 if routed else row['router_gflops'] == 0
    assert by_label['oracle_0.6_dataset']['flops_percent'] <= 61
    log = newest_log(results, 'test')
    assert 'WBSR tiny_test: 3 images' in log and 'fixed_16x2' in log
    visual = results / 'visualization' / 'tiny_test'
    assert len(list(visual.glob('*_ceil_subnets.png'))) == 3 and len(list(visual.glob('*_fixed_8x1.png'))) == 3
    # The full-network row equals what the checkpoint's EMA weights give, merged patch by patch.
    ema = torch.load(experiment / 'models' / 'net_g_latest.pth', weights_only=True)['params_ema']
    assert by_label['fixed_16x2']['psnr'] == pytest.approx(patchwise_psnr(ema, *tiny_pairs), abs=1e-3)


def patchwise_psnr(state, gt_dir: Path, lq_dir: Path) -> float:
    net = WBSRMSRResNet(**{k: v for k, v in NETWORK.items() if k != 'type'}).eval()
    net.load_state_dict(state, strict=True)
    scores = []
    for gt_path in sorted(gt_dir.iterdir()):
        lq = img2tensor(cv2.imread(str(lq_dir / gt_path.name)).astype('float32') / 255., bgr2rgb=True, float32=True)
        result = Engine(net, RoutingData(), 32, 28).infer(lq[None], make_row('fixed', subnet=net.full_subnet))
        scores.append(calculate_psnr(tensor2img(result.sr), cv2.imread(str(gt_path)), crop_border=SCALE,
                                     test_y_channel=True))
    return float(np.mean(scores))


DDP_LAUNCHER = '''import os
import torch
import wbsr_basicsr
from basicsr.train import train_pipeline
from wbsr_basicsr.models.wbsr_model import WBSRModel

root = os.environ["WBSR_ROOT"]
optimize = WBSRModel.optimize_parameters


def optimize_and_record(self, current_iter):
    optimize(self, current_iter)
    torch.save(self.supernet.state_dict(), os.path.join(root, f"rank{self.opt['rank']}_{current_iter}.pt"))


WBSRModel.optimize_parameters = optimize_and_record
train_pipeline(root)
'''


def test_distributed_training_on_cpu_with_torchrun(tmp_path, mini_div2k_x2, tiny_pairs):
    """Two gloo ranks through ``--launcher pytorch``: ranks train the same subnets, weights stay equal."""
    options = wbsr_train_options(mini_div2k_x2, tiny_pairs, 3, strategy='random', name='wbsr_ddp')
    options['datasets']['train']['batch_size_per_gpu'] = 2
    options['logger']['save_checkpoint_freq'] = 3
    options.pop('val')
    options['datasets'].pop('val')
    (tmp_path / 'ddp.yml').write_text(yaml.safe_dump(options))
    launcher = tmp_path / 'launch.py'
    launcher.write_text(DDP_LAUNCHER)
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29517',
               str(launcher), '-opt', str(tmp_path / 'ddp.yml'), '--launcher', 'pytorch']
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=dict(os.environ, WBSR_ROOT=str(tmp_path), OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    log = newest_log(tmp_path / 'experiments' / 'wbsr_ddp', 'train')
    assert 'dist: True' in log and 'world_size: 2' in log and len(re.findall(r'l_pix_sum: ', log)) == 3
    # Each rank drew other patches; averaged gradients keep the replicas identical, step after step.
    for iteration in (1, 3):
        rank0, rank1 = (torch.load(tmp_path / f'rank{r}_{iteration}.pt', weights_only=True) for r in (0, 1))
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    first, last = (torch.load(tmp_path / f'rank0_{i}.pt', weights_only=True) for i in (1, 3))
    assert any(not torch.equal(first[k], last[k]) for k in first)
    saved = torch.load(tmp_path / 'experiments' / 'wbsr_ddp' / 'models' / 'net_g_3.pth', weights_only=True)
    assert saved['wbsr']['router'] is not None


def model_options(tmp_path, network=NETWORK, **extra) -> dict:
    opt = dict(name='wbsr_bad', model_type='WBSRModel', scale=SCALE, num_gpu=0, is_train=False, dist=False, rank=0,
               world_size=1, network_g=dict(network), path=dict(pretrain_network_g=None),
               val=dict(rows=[dict(mode='fixed', subnet='full')]))
    opt.update(extra)
    return opt


def test_bad_model_options_raise_clear_errors(tmp_path, mini_div2k_x2):
    from basicsr.models import build_model

    with pytest.raises(ValueError, match='needs a slimmable supernet'):
        build_model(model_options(tmp_path, network=dict(type='MSRResNet', num_feat=16, num_block=2, upscale=SCALE)))
    with pytest.raises(ValueError, match=r"rows \['ceil'\] need routing thresholds"):
        build_model(model_options(tmp_path, val=dict(rows=[dict(mode='ceil')])))
    missing = tmp_path / 'routing_stats_X2.npz'
    with pytest.raises(ValueError, match=f'Routing statistics file {missing} does not exist'):
        build_model(model_options(tmp_path, routing=dict(stats_file=str(missing))))
    with pytest.raises(ValueError, match='routing: unknown option num_clases; the known ones are max_batch, '):
        build_model(model_options(tmp_path, routing=dict(num_clases=5)))
    with pytest.raises(ValueError, match=r'val.rows\[1\]: target_flops row: unknown option targt; the known ones are '
                                         'budget_unit, ladder, scope, target'):
        build_model(model_options(tmp_path, val=dict(rows=[dict(mode='fixed', subnet='full'),
                                                          dict(mode='target_flops', targt=0.5)])))
    with pytest.raises(ValueError, match='train.subnet_sampling: unknown option strategie'):
        build_model(model_options(tmp_path, train=dict(subnet_sampling=dict(strategie='all'))))
    with pytest.raises(ValueError, match='are for 32-pixel LR patches; routing.patch_size is 16'):
        build_model(model_options(tmp_path, routing=dict(stats_file=str(mini_div2k_x2 / 'routing_stats_X2.npz'),
                                                         patch_size=16, stride=12)))
    foreign = tmp_path / 'foreign.pth'
    torch.save({'params': WBSRMSRResNet(**{k: v for k, v in NETWORK.items() if k != 'type'}).state_dict(),
                'wbsr': {'format': 'other', 'version': 9}}, foreign)
    with pytest.raises(ValueError, match=f"{foreign}: its 'wbsr' entry is not"):
        build_model(model_options(tmp_path, path=dict(pretrain_network_g=str(foreign), strict_load_g=True)))


def test_an_iteration_logs_the_full_networks_loss_and_the_sum_it_minimised(tmp_path):
    """``all`` subnets, L1: ``l_pix`` is the full network's loss (SRModel's name), ``l_pix_sum`` the sum
    over the nine forwards, each against the ground truth."""
    from basicsr.models import build_model

    train = dict(ema_decay=0, optim_g=dict(type='Adam', lr=1e-3), total_iter=10, warmup_iter=-1,
                 scheduler=dict(type='MultiStepLR', milestones=[10], gamma=0.5),
                 subnet_sampling=dict(strategy='all'), pixel_opt=dict(type='L1Loss'))
    model = build_model(model_options(tmp_path, is_train=True, train=train))
    generator = torch.Generator().manual_seed(0)
    lq = torch.rand(2, 3, 12, 12, generator=generator)
    gt = torch.rand(2, 3, 12 * SCALE, 12 * SCALE, generator=generator)
    model.feed_data({'lq': lq, 'gt': gt})
    outputs = []
    with torch.no_grad():
        for subnet in model.supernet.subnets:
            with model.supernet.subnet(subnet):
                outputs.append(model.supernet(lq))
    full = outputs[-1]
    expected = sum(torch.nn.functional.l1_loss(out, gt) for out in outputs)
    model.optimize_parameters(1)
    assert model.log_dict['l_pix_sum'] == pytest.approx(expected.item(), rel=1e-5)
    assert model.log_dict['l_pix'] == pytest.approx(torch.nn.functional.l1_loss(full, gt).item(), rel=1e-5)


def test_damaged_checkpoint_is_refused_unless_the_check_is_off(tmp_path):
    """The wbsr entry records a checksum of every saved state dict; damaged tensor bytes are an error."""
    from basicsr.models import build_model
    from test_checkpoints import damage_largest_tensor

    model = build_model(model_options(tmp_path, path=dict(pretrain_network_g=None, models=str(tmp_path))))
    model.save_network(model.net_g, 'net_g', 7)
    saved = tmp_path / 'net_g_7.pth'
    assert set(torch.load(saved, weights_only=True)['wbsr']['checksums']) == {'params'}
    build_model(model_options(tmp_path, path=dict(pretrain_network_g=str(saved), strict_load_g=True)))
    damage_largest_tensor(saved)
    with pytest.raises(ValueError, match=f"{saved}: the parameters under 'params' do not match the checksum"):
        build_model(model_options(tmp_path, path=dict(pretrain_network_g=str(saved), strict_load_g=True)))
    build_model(model_options(tmp_path, path=dict(pretrain_network_g=str(saved), strict_load_g=True,
                                                  verify_checksum_g=False)))
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=f'{empty}: the network file is empty'):
        build_model(model_options(tmp_path, path=dict(pretrain_network_g=str(empty), strict_load_g=True)))
