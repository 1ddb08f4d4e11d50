"""HES dataset: Eq. 8 frequencies, the natural distribution, the exact switch in train_pipeline."""
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import basicsr.train
from basicsr.data import build_dataloader, build_dataset
from basicsr.utils import get_root_logger
from conftest import mini_div2k_hes_dataset, newest_log, paired_dataset, train_options
from wbsr_basicsr.data.hes_paired_dataset import CandidateSampler, HESPairedImageDataset, SampledBatches
from wbsr_basicsr.data.sampling.hes_sampler import class_level_probabilities
from wbsr_basicsr.data.hes_statistics import HESStatistics
from wbsr_basicsr.utils.gradient_stats import gradient_vectors_at, patch_gradient_vectors

SEED_TRIALS = 4000


def lmdb_options(root: Path, **hes) -> dict:
    options = mini_div2k_hes_dataset(root)
    options['hes'].update({'delta': 0.8, **hes})
    return options


@pytest.fixture(scope='module')
def hes_dataset(mini_div2k_x2) -> HESPairedImageDataset:
    return build_dataset(lmdb_options(mini_div2k_x2))


def test_class_level_frequencies_follow_eq8(hes_dataset):
    class_counts = np.bincount(hes_dataset.candidate_class, minlength=10)
    expected = class_level_probabilities(class_counts, 0.8)
    assert np.allclose(expected, 0.8**-np.arange(10) / (0.8**-np.arange(10)).sum())  # every class is non-empty
    drawn = hes_dataset.patch_sampler.draw(np.random.default_rng(0), 1, SEED_TRIALS)
    observed = np.bincount(hes_dataset.candidate_class[drawn], minlength=10)
    assert stats.chisquare(observed, expected * SEED_TRIALS).pvalue > 0.01
    # The same candidates under uniform sampling: clearly not Eq. 8.
    uniform = np.bincount(hes_dataset.candidate_class, minlength=10) / len(hes_dataset.candidate_class)
    assert stats.chisquare(observed, uniform * SEED_TRIALS).pvalue < 1e-6


def hes_batches(dataset: HESPairedImageDataset, switch_iter: int, workers: int = 2) -> SampledBatches:
    """The training loader BasicSR builds (``workers`` processes), wrapped as the compat hook wraps it."""
    sampler = dataset.training_sampler(1, 0, total_iter=10**6, first_iter=0, seed=0)
    sampler.switch_iter = switch_iter
    sampler.set_epoch(0)
    options = dict(dataset.opt, num_worker_per_gpu=workers)
    return dataset.training_batches(build_dataloader(dataset, options, num_gpu=0, dist=False, sampler=sampler), sampler)


def test_class_level_batches_carry_their_candidates_class_and_vector(hes_dataset, mini_div2k_x2):
    stored = HESStatistics.load(str(mini_div2k_x2 / 'hes_stats_X2.npz')).vectors
    batches = hes_batches(hes_dataset, switch_iter=0)
    n = len(hes_dataset)
    assert len(batches) >= 3
    for position, batch in enumerate(batches):
        candidates = batches.sampler.epoch_batches[position] - n
        assert batch['lq'].shape == (4, 3, 24, 24) and batch['gt'].shape == (4, 3, 48, 48)
        assert batch['hes_class_level'].tolist() == [1, 1, 1, 1]
        assert batch['hes_class'].tolist() == hes_dataset.candidate_class[candidates].tolist()
        assert torch.allclose(batch['hes_vector'], patch_gradient_vectors(batch['lq']))
        # Each patch is the drawn candidate's: its vector is the stored one, h and v swapped by a rotation.
        for vector, candidate in zip(batch['hes_vector'], candidates):
            assert any(torch.allclose(vector, torch.from_numpy(stored[candidate][order]), atol=1e-5)
                       for order in ([0, 1, 2, 3], [2, 3, 0, 1]))
    assert position == len(batches) - 1


def test_normalized_patches_are_scored_in_their_original_range(tiny_pairs):
    gt_dir, lq_dir = tiny_pairs
    options = paired_dataset('hes_norm', gt_dir, lq_dir, type='HESPairedImageDataset', phase='train', scale=2,
                             gt_size=32, use_hflip=False, use_rot=False, batch_size_per_gpu=2,
                             mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3], hes=dict(num_classes=4))
    dataset = build_dataset(options)
    batch = next(iter(hes_batches(dataset, switch_iter=10, workers=0)))
    original = batch['lq'] * torch.tensor([0.2, 0.25, 0.3]).view(3, 1, 1) + torch.tensor([0.4, 0.5, 0.6]).view(3, 1, 1)
    assert torch.allclose(batch['hes_vector'], patch_gradient_vectors(original))
    assert batch['hes_class'].tolist() == dataset.classify(patch_gradient_vectors(original).numpy()).tolist()


def natural_class_distribution(dataset: HESPairedImageDataset) -> np.ndarray:
    """Classes of PairedImageDataset's draws: an image uniformly, then any crop position uniformly."""
    distribution = np.zeros(dataset.hes.num_classes)
    size = dataset.patch_size
    for index in range(len(dataset)):
        lq = dataset._read_rgb(index, 'lq', dataset._client())[None]
        tops, lefts = range(lq.shape[-2] - size + 1), range(lq.shape[-1] - size + 1)
        vectors = gradient_vectors_at(lq, size, tops, lefts).reshape(-1, 4)
        distribution += np.bincount(dataset.classify(vectors.numpy()), minlength=len(distribution)) / len(vectors)
    return distribution / len(dataset)


def test_sample_level_items_follow_the_natural_distribution(hes_dataset):
    random.seed(0)  # BasicSR crops and flips with Python's random
    draws = np.random.default_rng(2).integers(0, len(hes_dataset), 2000)
    lq = torch.stack([hes_dataset[int(i)]['lq'] for i in draws])
    observed = np.bincount(hes_dataset.hes_fields(lq, draws)['hes_class'].numpy(), minlength=10)
    natural = natural_class_distribution(hes_dataset)
    assert stats.chisquare(observed, natural * len(draws)).pvalue > 0.01
    eq8 = class_level_probabilities(np.bincount(hes_dataset.candidate_class, minlength=10), 0.8)
    assert stats.chisquare(observed, eq8 * len(draws)).pvalue < 1e-6


def test_sampler_switches_at_the_iteration_on_every_rank(hes_dataset):
    n = len(hes_dataset)
    ranks = [CandidateSampler(hes_dataset, 2, rank, 4, batch_size=4, switch_iter=5, first_iter=0, seed=0) for rank in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(0)
    streams = [list(sampler) for sampler in ranks]
    per_epoch = ranks[0].iters_per_epoch
    assert per_epoch > 5
    for stream in streams:
        assert all(i < n for i in stream[:5 * 4]) and all(i >= n for i in stream[5 * 4:per_epoch * 4])
    assert streams[0][20:] != streams[1][20:]  # ranks draw their own class-level patches
    for sampler in ranks:
        sampler.set_epoch(1)  # second epoch: every iteration is past the switch
        assert all(i >= n for i in sampler)
    resumed = CandidateSampler(hes_dataset, 1, 0, 4, batch_size=4, switch_iter=5, first_iter=7, seed=0)
    resumed.set_epoch(0)
    assert all(i >= n for i in resumed)  # resumed past the switch: class-level from the first batch


@pytest.mark.parametrize('hes, message', [
    (dict(num_classes=1), 'at least 2'),
    (dict(delta=1.0), r'delta must lie in \(0, 1\)'),
    (dict(delta=0), r'delta must lie in \(0, 1\)'),
    (dict(start_frac=1.5), 'start_frac'),
    (dict(num_clases=5), 'hes: unknown option num_clases; the known ones are delta, num_classes'),
])
def test_bad_hes_options_raise(mini_div2k_x2, hes, message):
    with pytest.raises(ValueError, match=message):
        build_dataset(lmdb_options(mini_div2k_x2, **hes))


def test_lmdb_statistics_computed_at_start_and_loaded_by_workers(mini_div2k_x2, tmp_path):
    # A copy: LMDB opens a path once per process, and the module's dataset holds the original.
    shutil.copytree(mini_div2k_x2, tmp_path / 'copy')
    options = lmdb_options(tmp_path / 'copy')
    del options['hes']['stats_file']
    dataset = build_dataset(options)
    reference = build_dataset(lmdb_options(mini_div2k_x2))
    assert np.array_equal(dataset.candidate_class, reference.candidate_class)  # same grid, same classes
    assert dataset.file_client is None and options['io_backend']['type'] == 'lmdb'
    batch = next(iter(hes_batches(dataset, switch_iter=7)))
    assert batch['lq'].shape == (4, 3, 24, 24) and batch['hes_class_level'].tolist() == [0, 0, 0, 0]


def test_statistics_for_another_scale_or_patch_raise(mini_div2k_x2, tmp_path):
    options = lmdb_options(mini_div2k_x2)
    options['gt_size'] = 64
    with pytest.raises(ValueError, match='is for scale 2 and LR patch 24; this dataset uses scale 2 and LR patch 32'):
        build_dataset(options)
    options = lmdb_options(mini_div2k_x2)
    options['hes']['stats_file'] = str(tmp_path / 'missing.npz')
    with pytest.raises(ValueError, match='does not exist'):
        build_dataset(options)
    (tmp_path / 'other.npz').write_bytes(b'not an npz')
    options['hes']['stats_file'] = str(tmp_path / 'other.npz')
    with pytest.raises(ValueError, match="is not a 'wbsr-hes-stats' version 1 file"):
        build_dataset(options)


def test_sampler_and_fields_follow_basicsrs_batch_size_for_data_parallel(tiny_pairs):
    # Non-distributed multi-GPU: BasicSR's loader batches batch_size_per_gpu x num_gpu (no GPU needed to build it).
    dataset_opt = paired_dataset('tiny_hes', *tiny_pairs, type='HESPairedImageDataset', phase='train', scale=2,
                                 gt_size=32, use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=2,
                                 dataset_enlarge_ratio=4, hes=dict(num_classes=4, start_iter=1))
    opt = dict(datasets=dict(train=dataset_opt), num_gpu=2, dist=False, world_size=1, rank=0, manual_seed=0,
               train=dict(total_iter=10), path={})
    loader, sampler, _, _, _ = basicsr.train.create_train_val_dataloader(opt, get_root_logger())
    assert isinstance(loader, SampledBatches) and loader.batch_size == sampler.batch_size == 4
    sampler.set_epoch(0)
    phases = [batch['hes_class_level'].tolist() for batch in loader]
    assert phases[:2] == [[0, 0, 0, 0], [1, 1, 1, 1]]  # iteration 1 sample-level, class-level from iteration 2


def hes_train_options(gt_dir: Path, lq_dir: Path, total_iter: int, prefetch_mode) -> dict:
    """Three photos from disk (statistics computed at start), 3 iterations per epoch, 2 workers."""
    opt = train_options(gt_dir, lq_dir, total_iter)
    opt['name'] = 'hes_switch'
    opt['model_type'] = 'HESSRModel'
    opt['datasets']['train'] = paired_dataset(
        'tiny_hes', gt_dir, lq_dir, type='HESPairedImageDataset', gt_size=32, use_hflip=True, use_rot=True,
        num_worker_per_gpu=2, batch_size_per_gpu=2, dataset_enlarge_ratio=2, prefetch_mode=prefetch_mode,
        hes=dict(num_classes=4, delta=0.5, start_iter=4))
    opt['val']['val_freq'] = 1000
    return opt


def logged_phases(log: str) -> dict:
    """Iteration -> share of class-level patches in its batch (print_freq is 1)."""
    return {int(it): float(share) for it, share in re.findall(r'iter:\s+(\d+),.*?hes/class_level: ([-+.\deE]+)', log)}


@pytest.mark.parametrize('prefetch_mode', [None, 'cpu'])
def test_switch_in_train_pipeline_with_workers_and_resume(tmp_path, tiny_pairs, run_pipeline, monkeypatch,
                                                          prefetch_mode):
    monkeypatch.chdir(tmp_path)
    opt = hes_train_options(*tiny_pairs, total_iter=5, prefetch_mode=prefetch_mode)
    if prefetch_mode == 'cpu':
        opt['datasets']['train']['num_prefetch_queue'] = 2
    run_pipeline(basicsr.train.train_pipeline, tmp_path, opt)
    log = newest_log(tmp_path / 'experiments' / 'hes_switch', 'train')
    assert 'HESPairedImageDataset supplies its sampler: CandidateSampler.' in log
    assert 'HES: scored 75 candidates' in log
    # 3 iterations per epoch; switch after iteration 4, in the middle of the second epoch.
    assert logged_phases(log) == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 1.0}
    last = [line for line in log.splitlines() if 'hes/class_0' in line][-1]
    histogram = [float(v) for v in re.findall(r'hes/class_\d: ([-+.\deE]+)', last)]
    assert len(histogram) == 4 and abs(sum(histogram) - 1) < 1e-3

    # Resume from the state at iteration 4 (mid-epoch, before the switch) and run past it.
    opt = hes_train_options(*tiny_pairs, total_iter=8, prefetch_mode=prefetch_mode)
    run_pipeline(basicsr.train.train_pipeline, tmp_path, opt, '--auto_resume')
    log = newest_log(tmp_path / 'experiments' / 'hes_switch', 'train')
    assert 'iter: 4.' in log
    assert logged_phases(log) == {5: 1.0, 6: 1.0, 7: 1.0, 8: 1.0}


def test_sample_level_items_are_paired_image_datasets(tiny_pairs):
    """Under the same random state, a sample-level item is exactly PairedImageDataset's item."""
    options = paired_dataset('same', *tiny_pairs, phase='train', scale=2, gt_size=32, use_hflip=True, use_rot=True,
                             hes=dict(num_classes=4))
    hes, plain = build_dataset(dict(options, type='HESPairedImageDataset')), build_dataset(options)
    for index in range(len(plain)):
        random.seed(index)
        ours = hes[index]
        random.seed(index)
        theirs = plain[index]
        assert ours['gt_path'] == theirs['gt_path'] and torch.equal(ours['lq'], theirs['lq'])
        assert torch.equal(ours['gt'], theirs['gt'])


def test_color_y_gives_one_channel_in_both_phases(tiny_pairs):
    """``color: y`` (BasicSR's Y-channel training) holds after the switch too: batches collate."""
    dataset = build_dataset(paired_dataset('hes_y', *tiny_pairs, type='HESPairedImageDataset', phase='train', scale=2,
                                           gt_size=32, use_hflip=True, use_rot=True, batch_size_per_gpu=2,
                                           dataset_enlarge_ratio=4, color='y', hes=dict(num_classes=4)))
    batches = list(hes_batches(dataset, switch_iter=1, workers=0))
    assert len(batches) == 6
    for position, batch in enumerate(batches):
        assert batch['lq'].shape[1:] == (1, 16, 16) and batch['gt'].shape[1:] == (1, 32, 32)
        assert batch['hes_class_level'].tolist() == [int(position >= 1)] * len(batch['lq'])
