"""The supernet inside BasicSR's plain SRModel, through the real train / resume / test pipelines."""
import re
from pathlib import Path

import cv2
import pytest
import torch

from basicsr.metrics import calculate_psnr
import basicsr.test
import basicsr.train
from basicsr.utils import img2tensor, tensor2img
from conftest import NETWORK, PSNR, SCALE, newest_log, paired_dataset, train_options
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.compat import training_states

def test_train_resume_and_test_pipelines_on_cpu(tmp_path, tiny_pairs, run_pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a user runs from the repository root
    gt_dir, lq_dir = tiny_pairs
    experiment = tmp_path / 'experiments' / 'supernet_in_srmodel'

    run_pipeline(basicsr.train.train_pipeline, tmp_path, train_options(gt_dir, lq_dir, total_iter=4))
    assert {p.name for p in (experiment / 'training_states').iterdir()} == {'2.state', '4.state'}
    assert {'net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth'} <= {p.name for p in (experiment / 'models').iterdir()}
    log = newest_log(experiment, 'train')
    losses = [float(v) for v in re.findall(r'l_pix: ([-+.\deE]+)', log)]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert 'Network [WBSRMSRResNet] is created.' in log
    assert re.search(r'# psnr: \d+\.\d+', log)
    weights_at_4 = torch.load(experiment / 'models' / 'net_g_4.pth', weights_only=True)['params']

    # Resume on the CPU: BasicSR's own loader would call torch.cuda.current_device() here.
    run_pipeline(basicsr.train.train_pipeline, tmp_path, train_options(gt_dir, lq_dir, total_iter=6), '--auto_resume')
    log = newest_log(experiment, 'train')
    assert 'Resuming training from epoch: ' in log and 'iter: 4.' in log
    assert f"Loading WBSRMSRResNet model from {experiment / 'models' / 'net_g_4.pth'}" in log
    assert len(re.findall(r'l_pix: ', log)) == 2  # iterations 5 and 6 only
    assert {'6.state'} <= {p.name for p in (experiment / 'training_states').iterdir()}
    weights_at_6 = torch.load(experiment / 'models' / 'net_g_6.pth', weights_only=True)['params']
    assert any(not torch.equal(weights_at_4[k], weights_at_6[k]) for k in weights_at_4)

    checkpoint = experiment / 'models' / 'net_g_latest.pth'
    test_opt = dict(name='supernet_test', model_type='SRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                    datasets=dict(test_1=paired_dataset('tiny_test', gt_dir, lq_dir)), network_g=NETWORK,
                    path=dict(pretrain_network_g=str(checkpoint), strict_load_g=True, param_key_g='params'),
                    val=dict(save_img=True, suffix=None, metrics=dict(psnr=PSNR)))
    run_pipeline(basicsr.test.test_pipeline, tmp_path, test_opt)
    results = tmp_path / 'results' / 'supernet_test'
    logged_psnr = float(re.search(r'# psnr: (\d+\.\d+)', newest_log(results, 'test')).group(1))
    assert len(list((results / 'visualization' / 'tiny_test').glob('*.png'))) == 3
    assert logged_psnr == pytest.approx(direct_psnr(checkpoint, gt_dir, lq_dir), abs=1e-3)


def direct_psnr(checkpoint: Path, gt_dir: Path, lq_dir: Path) -> float:
    """Average Y-channel PSNR of the checkpoint, computed without BasicSR's model classes."""
    options = {k: v for k, v in NETWORK.items() if k != 'type'}
    net = WBSRMSRResNet(**options).eval()
    net.load_state_dict(torch.load(checkpoint, weights_only=True)['params'], strict=True)
    scores = []
    for gt_path in sorted(gt_dir.iterdir()):
        lq = img2tensor(cv2.imread(str(lq_dir / gt_path.name)).astype('float32') / 255., bgr2rgb=True, float32=True)
        with torch.no_grad():
            sr = tensor2img(net(lq.unsqueeze(0)))
        scores.append(calculate_psnr(sr, cv2.imread(str(gt_path)), crop_border=SCALE, test_y_channel=True))
    return sum(scores) / len(scores)


def test_training_states_newest_first(tmp_path):
    assert training_states(str(tmp_path / 'missing')) == []
    for name in ('2.state', '10.state', '9.state', 'notes.txt', 'x.state'):
        (tmp_path / name).write_text('')
    assert training_states(str(tmp_path)) == [str(tmp_path / f'{i}.state') for i in (10, 9, 2)]
