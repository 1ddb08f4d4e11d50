"""The Table 3 samplers (SamplingAug, DDA, BSPA): what each draws against its rule, their training
side in train_pipeline, BSPA's parameter protection, and errors for bad sampler options."""
import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import basicsr.train
from basicsr.data import build_dataset
from basicsr.models import build_model
from conftest import REPO, SCALE, mini_div2k_hes_dataset, newest_log, paired_dataset, train_options
from wbsr_basicsr.data.sampling import NOT_A_CANDIDATE
from wbsr_basicsr.option_schema import check_options
from wbsr_basicsr.studies.runs import Recipe
from wbsr_basicsr.training.parameter_protection import top_share

DRAWS = 6000


def sampler_options(root: Path, **sampler) -> dict:
    return mini_div2k_hes_dataset(root, sampler=sampler)


def direct_measures(dataset):
    """Each candidate's interpolation PSNR and LR standard deviation, cropped and computed one by one."""
    size, scale, client = dataset.patch_size, dataset.scale, dataset._client()
    psnr, std = [], []
    images = {}
    for image, (top, left) in zip(dataset.candidate_image, dataset.candidate_corner):
        if image not in images:
            lq, gt = (dataset._read_rgb(int(image), role, client) for role in ('lq', 'gt'))
            up = F.interpolate(lq[None], scale_factor=scale, mode='bilinear', align_corners=False).clamp(0, 1)[0]
            images[image] = (lq, gt, up)
        lq, gt, up = images[image]
        box = (slice(top * scale, (top + size) * scale), slice(left * scale, (left + size) * scale))
        mse = ((up[:, box[0], box[1]] - gt[:, box[0], box[1]])**2).double().mean()
        psnr.append(float(10 * torch.log10(1 / mse.clamp_min(1e-10))))  # a perfect patch: 100 dB
        std.append(float(lq[:, top:top + size, left:left + size].double().std(unbiased=False)))
    return np.array(psnr), np.array(std)


@pytest.fixture(scope='module')
def measures(mini_div2k_x2):
    return direct_measures(build_dataset(sampler_options(mini_div2k_x2)))


def test_samplingaug_draws_an_image_uniformly_then_one_of_its_hardest_patches(mini_div2k_x2, measures):
    dataset = build_dataset(sampler_options(mini_div2k_x2, type='SamplingAug', portion=0.25))
    psnr, _ = measures
    assert np.allclose(dataset.patch_sampler.psnr, psnr, atol=1e-3)
    drawn = dataset.patch_sampler.draw(np.random.default_rng(0), 1, DRAWS)
    images = np.unique(dataset.candidate_image)
    observed, expected = np.zeros(len(psnr)), np.zeros(len(psnr))  # by rank among an image's allowed patches
    for image in images:
        ids = np.flatnonzero(dataset.candidate_image == image)
        allowed = ids[np.argsort(psnr[ids])][:int(np.ceil(0.25 * len(ids)))]
        mine = drawn[dataset.candidate_image[drawn] == image]
        assert set(mine) <= set(allowed) and len(allowed) < len(ids)
        observed[:len(allowed)] += [(mine == i).sum() for i in allowed]
        expected[:len(allowed)] += len(mine) / len(allowed)
    used = expected > 0
    assert stats.chisquare(observed[used], expected[used]).pvalue > 0.01  # uniform among them
    per_image = np.array([(dataset.candidate_image[drawn] == image).sum() for image in images])
    assert stats.chisquare(per_image).pvalue > 0.01  # images equally often, as PairedImageDataset


def test_dda_draws_classes_by_their_training_loss_and_reweights_patches(mini_div2k_x2, measures):
    dataset = build_dataset(sampler_options(mini_div2k_x2, type='DDA', num_classes=4, momentum=0.5, max_weight=1.25))
    sampler = dataset.patch_sampler
    psnr, _ = measures
    # Divider: quantile classes of the interpolation error, harder patches in higher classes.
    order = np.argsort(-psnr, kind='stable')
    assert np.all(np.diff(sampler.difficulty_class[order]) >= 0)
    assert np.all(np.abs(np.bincount(sampler.difficulty_class) - len(psnr) / 4) <= 1)
    rng = np.random.default_rng(0)
    before = np.bincount(sampler.difficulty_class[sampler.draw(rng, 1, DRAWS)], minlength=4)
    assert stats.chisquare(before).pvalue > 0.01  # no losses yet: classes equally likely
    # Losses 1, 2, 3, 4 per class, fed twice: the running class losses are those.
    drawn = np.concatenate([sampler.members[k][:2] for k in range(4)] + [[NOT_A_CANDIDATE]])
    losses = np.append(sampler.difficulty_class[drawn[:-1]] + 1., 99.)
    for _ in range(2):
        dataset.patch_sampler.batch_fields(drawn)['sample_feedback'](losses)
    assert np.allclose(sampler.class_loss, [1, 2, 3, 4])
    after = np.bincount(sampler.difficulty_class[sampler.draw(rng, 2, DRAWS)], minlength=4)
    assert stats.chisquare(after, np.arange(1, 5) / 10 * DRAWS).pvalue > 0.01
    assert stats.chisquare(after).pvalue < 1e-6
    # Re-weighter: a patch's running loss over its class's, clipped; 1 for crops and unseen patches.
    sampler.feedback(sampler.members[3][2:3], np.array([2.]))  # class 3: 0.5 * 4 + 0.5 * 2 = 3
    sampler.feedback(sampler.members[1][2:3], np.array([4.]))  # class 1: 0.5 * 2 + 0.5 * 4 = 3
    easy_in_hard, easy = sampler.members[3][0], sampler.members[1][0]  # running losses 4 and 2
    unseen = sampler.members[0][-1]
    weights = sampler.batch_fields(np.array([easy_in_hard, easy, drawn[0], unseen, NOT_A_CANDIDATE]))['sample_weight']
    assert torch.allclose(weights, torch.tensor([1.25, 0.8, 1., 1., 1.]))  # 4 / 3 and 2 / 3, clipped


def test_bspa_draws_uniform_crops_then_every_std_group_equally(mini_div2k_x2, measures):
    dataset = build_dataset(sampler_options(mini_div2k_x2, type='BSPA', group_width=0.04, num_groups=6, interval=3,
                                            inverse_iters=2))
    sampler = dataset.patch_sampler
    _, std = measures
    assert np.array_equal(sampler.group, np.minimum(std // 0.04, 5).astype(int))
    rng = np.random.default_rng(0)
    assert [bool((sampler.draw(rng, it, 4) != NOT_A_CANDIDATE).all()) for it in range(1, 11)] == [
        False, False, False, True, True] * 2
    assert all((sampler.draw(rng, it, 4) == NOT_A_CANDIDATE).all() for it in (1, 2, 3, 6, 7, 8))
    counts = np.bincount(sampler.group[sampler.draw(rng, 4, DRAWS)], minlength=6)
    present = np.bincount(sampler.group, minlength=6) > 0
    assert present.sum() >= 3 and not counts[~present].any()
    assert stats.chisquare(counts[present]).pvalue > 0.01  # inverse frequency: every group alike
    natural = np.bincount(sampler.group, minlength=6)[present] / len(sampler.group)
    assert stats.chisquare(counts[present], natural * DRAWS).pvalue < 1e-6


@pytest.mark.parametrize('sampler, hes, message', [
    (dict(type='Uniform'), {}, "sampler: unknown type 'Uniform'; choose from"),
    (dict(type='SamplingAug', portoin=0.1), {}, r'sampler \(SamplingAug\): unknown option portoin'),
    (dict(type='SamplingAug', portion=0), {}, r'portion must lie in \(0, 1\]'),
    (dict(type='DDA', num_classes=1), {}, 'num_classes must be an integer of at least 2'),
    (dict(type='DDA', max_weight=0.5), {}, 'max_weight must be at least 1'),
    (dict(type='BSPA', inverse_iters=0), {}, 'inverse_iters must be a positive integer'),
    (dict(type='BSPA', protect=2), {}, r'protect must lie in \[0, 1\]'),
    (dict(type='DDA'), dict(delta=0.8), "hes.delta is HES's Eq. 8 parameter; sampler DDA does not use it"),
    (dict(type='HES', delta=0.8), dict(delta=0.8), 'delta is given in both'),
])
def test_bad_sampler_options_raise(mini_div2k_x2, sampler, hes, message):
    options = sampler_options(mini_div2k_x2, **sampler)
    options['hes'].update(hes)
    with pytest.raises(ValueError, match=message):
        build_dataset(options)


def table3_train_options(gt_dir: Path, lq_dir: Path, sampler: dict, total_iter: int = 6) -> dict:
    opt = train_options(gt_dir, lq_dir, total_iter)
    opt.update(name=f"table3_{sampler['type']}", model_type='HESSRModel')
    opt['network_g'] = dict(type='MSRResNet', num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, upscale=2)
    opt['datasets']['train'] = paired_dataset(
        'tiny_table3', gt_dir, lq_dir, type='HESPairedImageDataset', gt_size=32, use_hflip=True, use_rot=True,
        num_worker_per_gpu=2, batch_size_per_gpu=2, dataset_enlarge_ratio=2, prefetch_mode=None,
        hes=dict(num_classes=4), sampler=sampler)
    opt['val']['val_freq'] = 1000
    return opt


def test_samplers_that_need_the_model_are_refused_with_other_models(tiny_pairs):
    opt = table3_train_options(*tiny_pairs, dict(type='DDA'))
    check_options(opt, 'ok.yml')
    opt['model_type'] = 'WBSRModel'
    with pytest.raises(ValueError, match=r"bad.yml: .*DDA trains with the model's help, which model_type WBSRModel"):
        check_options(opt, 'bad.yml')
    opt['datasets']['train']['sampler'] = dict(type='DDA', momentun=0.5)
    with pytest.raises(ValueError, match=r"unknown option datasets.train.sampler.momentun \(did you mean 'momentum'"):
        check_options(opt, 'bad.yml')


@pytest.mark.parametrize('sampler', [dict(type='SamplingAug', portion=0.5), dict(type='DDA', num_classes=3),
                                     dict(type='BSPA', interval=2, inverse_iters=1, steps=2, attribution_batches=2)])
def test_samplers_train_in_train_pipeline(tmp_path, tiny_pairs, run_pipeline, monkeypatch, sampler):
    monkeypatch.chdir(tmp_path)
    run_pipeline(basicsr.train.train_pipeline, tmp_path, table3_train_options(*tiny_pairs, sampler))
    log = newest_log(tmp_path / 'experiments' / f"table3_{sampler['type']}", 'train')
    assert f"Training patches: {sampler['type']} " in log
    shares = {int(it): float(v) for it, v in re.findall(r'iter:\s+(\d+),.*?hes/class_level: ([-+.\deE]+)', log)}
    # Every batch drawn by the sampler from iteration 1 (BSPA: only its inverse iterations 3 and 6).
    if sampler['type'] == 'BSPA':
        assert shares == {it: float(it % 3 == 0) for it in range(1, 7)}
        protected = re.findall(r'BSPA: inverse phase ended at iteration (\d+); protecting (\d+) of (\d+)', log)
        assert [int(it) for it, _, _ in protected] == [3, 6]
        for it, count, total in protected:
            assert abs(int(count) - 0.1 * int(it) / 6 * int(total)) <= 1
    else:
        assert shares == dict.fromkeys(range(1, 7), 1.0)


def tiny_model(tiny_pairs, sampler: dict):
    opt = table3_train_options(*tiny_pairs, sampler, total_iter=10)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0, path=dict(
        opt['path'], experiments_root='unused', models='unused', training_states='unused', log='unused',
        visualization='unused'))
    return build_model(opt)


def test_bspa_protects_the_weights_its_inverse_phase_taught_most(tiny_pairs):
    sampler = dict(type='BSPA', interval=2, inverse_iters=2, steps=3, attribution_batches=2, protect=0.5)
    model = tiny_model(tiny_pairs, sampler)
    torch.manual_seed(0)
    batches = [dict(lq=torch.rand(2, 3, 16, 16), gt=torch.rand(2, 3, 32, 32)) for _ in range(8)]
    network = model.get_bare_model(model.net_g)
    convs = {name: p for name, p in network.named_parameters() if p.dim() == 4}
    for iteration, batch in enumerate(batches[:4], start=1):
        if iteration == 3:
            baseline = {name: p.detach().clone() for name, p in convs.items()}
        model.feed_data(batch)
        model.optimize_parameters(iteration)
    hook = model.sampler_hook
    target = {name: p.detach().clone() for name, p in convs.items()}
    assert set(hook.mask) == set(convs)
    share = sum(int(m.sum()) for m in hook.mask.values()) / sum(m.numel() for m in hook.mask.values())
    assert abs(share - 0.5 * 4 / 10) < 1e-3
    # The attribution: |mean gradient along the path x the change|, summed over the 2 uniform batches.
    scores = {name: torch.zeros_like(p) for name, p in convs.items()}
    for batch in batches[:2]:
        integral = {name: torch.zeros_like(p) for name, p in convs.items()}
        for alpha in ((0.5 / 3), (1.5 / 3), (2.5 / 3)):
            probe = copy.deepcopy(network)
            probe_convs = dict(probe.named_parameters())
            with torch.no_grad():
                for name in convs:
                    probe_convs[name].copy_(target[name] + alpha * (baseline[name] - target[name]))
            F.l1_loss(probe(batch['lq']), batch['gt']).backward()
            for name in convs:
                integral[name] += probe_convs[name].grad / 3
        for name in convs:
            scores[name] += (integral[name] * (baseline[name] - target[name])).abs()
    expected = top_share(scores, 0.5 * 4 / 10)
    agreement = sum(int((expected[n] == hook.mask[n]).sum()) for n in convs) / sum(m.numel() for m in expected.values())
    assert agreement > 0.99  # float ties at the threshold may differ
    # Later uniform steps leave the protected weights at their target and train the others.
    for iteration, batch in enumerate(batches[4:6], start=5):
        model.feed_data(batch)
        model.optimize_parameters(iteration)
    for name, p in convs.items():
        assert torch.equal(p.detach()[hook.mask[name]], target[name][hook.mask[name]])
    assert any(not torch.equal(p.detach()[~hook.mask[n]], target[n][~hook.mask[n]]) for n, p in convs.items())


TABLE3 = ['plain:l1', 'plain+samplingaug:l1', 'plain+dda:l1', 'plain+bspa:l1', 'plain+hes:l1']


def test_table3_study_runs_as_one_command(tmp_path, mini_div2k_x2, bench):
    command = [sys.executable, str(REPO / 'scripts' / 'training_study.py'), '--train', str(mini_div2k_x2), '--bench',
               str(bench), '--out', str(tmp_path), '--recipes', *TABLE3, '--seeds', '0', '--scale', str(SCALE),
               '--iters', '5', '--gt-size', '48', '--batch', '4', '--num-feat', '8', '--num-block', '1',
               '--workers', '0']
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = re.findall(r'^\| `([^`]+)` \| 1 \| (\d+\.\d+) \(.*\| (\d+\.\d+) \(', done.stdout, re.M)
    assert [row[0] for row in rows] == TABLE3
    bspa = (tmp_path / 'study' / 'study_plain_bspa_l1_s0.log').read_text()
    assert 'Training patches: BSPA' in bspa and 'BSPA: inverse phase ended at iteration 4' in bspa


@pytest.mark.parametrize('text, message', [
    ('supernet+dda:l1', 'dda trains with HESSRModel'), ('plain+bspa:bd-laplace', 'bspa trains with HESSRModel'),
    ('plain+uniform:l1', r'is not <plain\|supernet>\[\+hes\|\+samplingaug\|\+dda\|\+bspa\]'),
])
def test_recipes_a_sampler_cannot_train_are_refused(text, message):
    with pytest.raises(SystemExit, match=message):
        Recipe.parse(text)


def test_hes_sr_model_weights_dda_batches_and_feeds_their_losses_back(tiny_pairs):
    model = tiny_model(tiny_pairs, dict(type='DDA', num_classes=3, max_weight=4))
    dataset = build_dataset(dict(table3_train_options(*tiny_pairs, dict(type='DDA', num_classes=3, max_weight=4))[
        'datasets']['train'], phase='train', scale=2))
    sampler = dataset.patch_sampler
    drawn = np.array([sampler.members[0][0], sampler.members[2][0]])
    sampler.feedback(drawn, np.array([1., 1.]))
    sampler.feedback(np.array([sampler.members[2][1]]), np.array([0.05]))  # class 2's loss 0.9 + 0.005
    batch = dict(lq=torch.rand(2, 3, 16, 16), gt=torch.rand(2, 3, 32, 32), **sampler.batch_fields(drawn))
    assert torch.allclose(batch['sample_weight'], torch.tensor([1., 1 / 0.905]))
    before = sampler.class_loss.copy()
    model.feed_data(batch)
    with torch.no_grad():
        per_patch = (model.get_bare_model(model.net_g)(batch['lq']) - batch['gt']).abs().mean((1, 2, 3))
    model.optimize_parameters(1)
    weights = batch['sample_weight']
    assert model.log_dict['l_pix'] == pytest.approx(float((weights * per_patch).sum() / weights.sum()), rel=1e-5)
    momentum = sampler.options.momentum
    assert sampler.class_loss[[0, 2]] == pytest.approx(momentum * before[[0, 2]] + (1 - momentum) * per_patch.numpy(),
                                                       rel=1e-5)
