"""The supernet inside BasicSR's plain SRModel, through the real train / resume / test pipelines."""
import re
import shutil
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
from wbsr_basicsr.compat import REPLACED, check_basicsr, resolve, training_states

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


@pytest.mark.parametrize('crop', ['left', 'mod'])
def test_test_pipeline_refuses_misaligned_pairs(tmp_path, tiny_pairs, run_pipeline, monkeypatch, crop):
    """An LR image cut on the left would score against the wrong GT pixels: an error naming both files.
    A GT image larger by a mod-crop (fewer than scale pixels) is fine, as BasicSR crops it."""
    monkeypatch.chdir(tmp_path)
    gt_dir, lq_dir = (tmp_path / name for name in ('gt', 'lq'))
    shutil.copytree(tiny_pairs[0], gt_dir)
    shutil.copytree(tiny_pairs[1], lq_dir)
    name = sorted(p.name for p in gt_dir.iterdir())[1]
    if crop == 'left':
        cv2.imwrite(str(lq_dir / name), cv2.imread(str(lq_dir / name))[:, 4:])
    else:
        gt = cv2.imread(str(gt_dir / name))
        cv2.imwrite(str(gt_dir / name), cv2.copyMakeBorder(gt, 0, SCALE - 1, 0, SCALE - 1, cv2.BORDER_REFLECT))
    test_opt = dict(name=f'misaligned_{crop}', model_type='SRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                    datasets=dict(test_1=paired_dataset('pairs', gt_dir, lq_dir)), network_g=NETWORK,
                    path=dict(pretrain_network_g=None), val=dict(save_img=False, metrics=dict(psnr=PSNR)))
    if crop == 'mod':
        run_pipeline(basicsr.test.test_pipeline, tmp_path, test_opt)
        return
    with pytest.raises(ValueError, match=f'{gt_dir / name} .* and its LR image {lq_dir / name} .* are not aligned'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, test_opt)


def test_compat_refuses_a_basicsr_it_was_not_written_for():
    def load_resume_state(opt, device):  # a future BasicSR whose function takes other parameters
        return None

    with pytest.raises(ImportError, match='basicsr 1.5.0 is installed; install basicsr==1.4.2'):
        check_basicsr('1.5.0', {})
    with pytest.raises(ImportError, match=r'replaces basicsr.train.load_resume_state\(opt\), but this basicsr has '
                                          r'basicsr.train.load_resume_state\(opt, device\)'):
        check_basicsr('1.4.2', {'basicsr.train.load_resume_state': load_resume_state})
    check_basicsr('1.4.2', {name: resolve(name) for name in REPLACED})  # the installed one, fixes applied
