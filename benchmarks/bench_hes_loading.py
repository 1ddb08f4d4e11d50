"""Data-loading cost per batch: HESPairedImageDataset (both phases, every patch sampler) against
BasicSR's PairedImageDataset.

Same LMDB, same workers, same batch size, runs interleaved in rotating order. HES-dataset loaders
are timed as training builds them: BasicSR's loader on ``CandidateSampler``, wrapped by
``SampledBatches`` (which computes the HES fields and the sampler's fields in the main process).
Each sampler is timed where it draws (BSPA in its inverse phase; DDA without loss feedback, so
with its uniform start but its per-batch weights). The seconds each dataset took to build (the
candidates' measures of SamplingAug, DDA and BSPA) are printed first. Per loader it prints, as
medians over the rounds:

- wall: milliseconds per batch as the training loop waits for them;
- cpu: CPU milliseconds per batch of the main process and the workers together, read from
  ``/proc`` over the same batches: the work done, much less sensitive than wall time to
  other jobs on a shared machine;
- main: the main process's part of cpu;
- ratios to PairedImageDataset (target: at most 1.05), each round's run against the reference
  run of the same round.

A second, identical PairedImageDataset loader shows the noise of the measurement, and
PairedImageDataset on the images the class-level phase draws separates the cost of HES's
choice of images from the cost of its code. LMDBs and statistics come from
``datasets_prep/prepare_div2k.py``:

    python benchmarks/bench_hes_loading.py --root datasets/DIV2K --scale 4 [--workers 2] [--batches 60] \
        [--samplers HES SamplingAug DDA BSPA]
"""
import argparse
import multiprocessing
import statistics
import time
from os import path as osp
from typing import Callable, Dict, List, NamedTuple

import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the HES dataset)
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler


class Cost(NamedTuple):
    """Milliseconds per batch."""

    wall: float
    cpu: float
    main: float


SAMPLER_BLOCKS = {'HES': {}, 'SamplingAug': dict(type='SamplingAug'), 'DDA': dict(type='DDA'),
                  'BSPA': dict(type='BSPA', interval=1, inverse_iters=10**8)}  # BSPA: always its inverse phase


def dataset_options(args: argparse.Namespace, dataset_type: str, sampler: str = 'HES') -> dict:
    options = dict(name=dataset_type, type=dataset_type, phase='train', scale=args.scale,
                   dataroot_gt=osp.join(args.root, 'DIV2K_train_HR_sub.lmdb'),
                   dataroot_lq=osp.join(args.root, f'DIV2K_train_LR_bicubic_X{args.scale}_sub.lmdb'),
                   io_backend=dict(type='lmdb'), gt_size=args.gt_size, use_hflip=True, use_rot=True,
                   num_worker_per_gpu=args.workers, batch_size_per_gpu=args.batch_size, dataset_enlarge_ratio=1)
    if dataset_type == 'HESPairedImageDataset':
        options['hes'] = dict(stats_file=osp.join(args.root, f'hes_stats_X{args.scale}.npz'))
        options['sampler'] = SAMPLER_BLOCKS[sampler]
    return options


class ImagesOfDraws(EnlargedSampler):
    """BasicSR's sampler, but yielding the images that the class-level phase draws (a control)."""

    def __init__(self, dataset, hes_dataset) -> None:
        super().__init__(dataset, 1, 0, 1)
        self.hes_dataset = hes_dataset

    def __iter__(self):
        drawn = self.hes_dataset.patch_sampler.draw(np.random.default_rng(self.epoch), 1, self.num_samples)
        return iter(self.hes_dataset.candidate_image[drawn].tolist())


def worker_cpu_seconds() -> float:
    """CPU seconds used so far by this process's live child processes (the loader's workers)."""
    total = 0.
    for child in multiprocessing.active_children():
        with open(f'/proc/{child.pid}/schedstat') as handle:
            total += int(handle.read().split()[0]) / 1e9
    return total


def loader_timer(args: argparse.Namespace, dataset_type: str, switch_iter: int, hes_dataset=None,
                 sampler_type: str = 'HES') -> Callable[[], Cost]:
    """A function that runs ``args.batches`` batches through a fresh loader and returns their cost."""
    opt = dataset_options(args, dataset_type, sampler_type)
    started = time.perf_counter()
    dataset = build_dataset(opt)
    if dataset_type == 'HESPairedImageDataset':
        print(f'{sampler_type}: dataset built in {time.perf_counter() - started:.1f} s', flush=True)
    if dataset_type == 'HESPairedImageDataset':
        sampler = dataset.training_sampler(1, 0, total_iter=10**9, first_iter=0, seed=0)
        sampler.switch_iter = switch_iter
    elif hes_dataset is not None:
        sampler = ImagesOfDraws(dataset, hes_dataset)
    else:
        sampler = EnlargedSampler(dataset, 1, 0, 1)
    loader = build_dataloader(dataset, opt, num_gpu=0, dist=False, sampler=sampler, seed=0)
    if dataset_type == 'HESPairedImageDataset':
        loader = dataset.training_batches(loader, sampler)
    epoch = [0]

    def run() -> Cost:
        epoch[0] += 1
        sampler.set_epoch(epoch[0])
        batches = iter(loader)
        next(batches)  # worker start-up is not data loading
        workers, main, start = worker_cpu_seconds(), time.process_time(), time.perf_counter()
        for _ in range(args.batches):
            next(batches)
        wall = time.perf_counter() - start
        main = time.process_time() - main
        workers = worker_cpu_seconds() - workers
        del batches  # shuts the workers down before the next loader starts
        return Cost(*(1000 * v / args.batches for v in (wall, main + workers, main)))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', required=True, help='output folder of prepare_div2k.py')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--gt-size', type=int, default=128)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--batches', type=int, default=40, help='timed batches per run')
    parser.add_argument('--rounds', type=int, default=5, help='interleaved runs of each loader')
    parser.add_argument('--samplers', nargs='+', default=list(SAMPLER_BLOCKS), choices=list(SAMPLER_BLOCKS),
                        help='patch samplers timed in their drawing phase (HES also in its sample-level phase)')
    args = parser.parse_args()
    if args.workers < 1:
        parser.error('--workers must be at least 1: the benchmark measures loading in worker processes.')
    torch.manual_seed(0)
    timers: Dict[str, Callable[[], Cost]] = {
        'PairedImageDataset': loader_timer(args, 'PairedImageDataset', 0),
        'PairedImageDataset 2': loader_timer(args, 'PairedImageDataset', 0),  # control: the noise floor
        'HES sample-level': loader_timer(args, 'HESPairedImageDataset', 10**9),
    }
    for sampler in args.samplers:
        timers[f'{sampler} drawing'] = loader_timer(args, 'HESPairedImageDataset', 0, sampler_type=sampler)
    # Control for the class-level phase: BasicSR's dataset on the images that phase draws (textured
    # images have larger PNGs, slower to decode: a cost of HES's choice of data, not of its code).
    timers['Paired, HES images'] = loader_timer(args, 'PairedImageDataset', 0,
                                                build_dataset(dataset_options(args, 'HESPairedImageDataset')))
    names = list(timers)
    costs: Dict[str, List[Cost]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            costs[name].append(timers[name]())
    reference = costs['PairedImageDataset']

    def ratio(values: List[Cost], base: List[Cost], field: str) -> float:
        return statistics.median(getattr(v, field) / getattr(b, field) for v, b in zip(values, base))

    print(f'workers={args.workers} batch={args.batch_size} gt={args.gt_size} x{args.scale} '
          f'batches/run={args.batches} rounds={args.rounds}; ms per batch, medians; ratios to PairedImageDataset')
    print(f"{'loader':<22}{'wall':>8}{'cpu':>8}{'main':>8}{'wall ratio':>12}{'cpu ratio':>11}")
    for name, values in costs.items():
        wall, cpu, main_cpu = (statistics.median(getattr(v, f) for v in values) for f in Cost._fields)
        print(f'{name:<22}{wall:>8.1f}{cpu:>8.1f}{main_cpu:>8.2f}{ratio(values, reference, "wall"):>12.3f}'
              f'{ratio(values, reference, "cpu"):>11.3f}')
    same_images = costs['Paired, HES images']
    if 'HES drawing' in costs:
        print(f'HES drawing / Paired on the same images: wall {ratio(costs["HES drawing"], same_images, "wall"):.3f}, '
              f'cpu {ratio(costs["HES drawing"], same_images, "cpu"):.3f}')


if __name__ == '__main__':
    main()
