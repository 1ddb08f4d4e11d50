"""Data-loading time per batch: HESPairedImageDataset (both phases) against BasicSR's PairedImageDataset.

Same LMDB, same workers, same batch size, runs interleaved; prints median seconds per batch and
the ratio to PairedImageDataset (target: at most 1.05). A second, identical PairedImageDataset
loader is timed too: its ratio shows the noise of the measurement. The LMDBs and statistics come from
``datasets_prep/prepare_div2k.py``:

    python benchmarks/bench_hes_loading.py --root datasets/DIV2K --scale 4 [--workers 2] [--batches 60]
"""
import argparse
import statistics
import time
from os import path as osp
from typing import Callable, Dict, List

import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the HES dataset)
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler


def dataset_options(args: argparse.Namespace, dataset_type: str) -> dict:
    options = dict(name=dataset_type, type=dataset_type, phase='train', scale=args.scale,
                   dataroot_gt=osp.join(args.root, 'DIV2K_train_HR_sub.lmdb'),
                   dataroot_lq=osp.join(args.root, f'DIV2K_train_LR_bicubic_X{args.scale}_sub.lmdb'),
                   io_backend=dict(type='lmdb'), gt_size=args.gt_size, use_hflip=True, use_rot=True,
                   num_worker_per_gpu=args.workers, batch_size_per_gpu=args.batch_size, dataset_enlarge_ratio=1)
    if dataset_type == 'HESPairedImageDataset':
        options['hes'] = dict(stats_file=osp.join(args.root, f'hes_stats_X{args.scale}.npz'))
    return options


class ImagesOfDraws(EnlargedSampler):
    """BasicSR's sampler, but yielding the images that the class-level phase draws (a control)."""

    def __init__(self, dataset, hes_dataset) -> None:
        super().__init__(dataset, 1, 0, 1)
        self.hes_dataset = hes_dataset

    def __iter__(self):
        drawn = self.hes_dataset.draw_class_level(np.random.default_rng(self.epoch), self.num_samples)
        return iter(self.hes_dataset.candidate_image[drawn].tolist())


def loader_timer(args: argparse.Namespace, dataset_type: str, switch_iter: int, hes_dataset=None
                 ) -> Callable[[], float]:
    """A function that runs ``args.batches`` batches through a fresh loader; returns seconds per batch."""
    opt = dataset_options(args, dataset_type)
    dataset = build_dataset(opt)
    if dataset_type == 'HESPairedImageDataset':
        sampler = dataset.training_sampler(1, 0, total_iter=10**9, first_iter=0, seed=0)
        sampler.switch_iter = switch_iter
    elif hes_dataset is not None:
        sampler = ImagesOfDraws(dataset, hes_dataset)
    else:
        sampler = EnlargedSampler(dataset, 1, 0, 1)
    loader = build_dataloader(dataset, opt, num_gpu=0, dist=False, sampler=sampler, seed=0)
    epoch = [0]

    def run() -> float:
        epoch[0] += 1
        sampler.set_epoch(epoch[0])
        batches = iter(loader)
        next(batches)  # worker start-up is not data loading
        start = time.perf_counter()
        for _ in range(args.batches):
            next(batches)
        return (time.perf_counter() - start) / args.batches

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
    args = parser.parse_args()
    torch.manual_seed(0)
    timers: Dict[str, Callable[[], float]] = {
        'PairedImageDataset': loader_timer(args, 'PairedImageDataset', 0),
        'PairedImageDataset 2': loader_timer(args, 'PairedImageDataset', 0),  # control: the noise floor
        'HES sample-level': loader_timer(args, 'HESPairedImageDataset', 10**9),
        'HES class-level': loader_timer(args, 'HESPairedImageDataset', 0),
    }
    # Control for the class-level phase: BasicSR's dataset on the images that phase draws (textured
    # images have larger PNGs, slower to decode: a cost of HES's choice of data, not of its code).
    timers['Paired, HES images'] = loader_timer(args, 'PairedImageDataset', 0,
                                                build_dataset(dataset_options(args, 'HESPairedImageDataset')))
    times: Dict[str, List[float]] = {name: [] for name in timers}
    for _ in range(args.rounds):
        for name, timer in timers.items():
            times[name].append(timer())
    reference = statistics.median(times['PairedImageDataset'])
    print(f'workers={args.workers} batch={args.batch_size} gt={args.gt_size} x{args.scale} '
          f'batches/run={args.batches} rounds={args.rounds}')
    for name, values in times.items():
        median = statistics.median(values)
        print(f'{name:<22}{median * 1000:>9.1f} ms/batch   ratio {median / reference:.3f}')
    class_level = statistics.median(times['HES class-level']) / statistics.median(times['Paired, HES images'])
    print(f'HES class-level / Paired on the same images: {class_level:.3f}')


if __name__ == '__main__':
    main()
