"""Timing helpers shared by the time profiles and the benchmark scripts: synchronised, interleaved, medians;
a competing load for benchmarks of a busy machine."""
import contextlib
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Iterator, List

import torch


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes, waiting for the GPU when ``device`` is one."""
    if device.type == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def interleaved_medians(fns: List[Callable[[], object]], device: torch.device, repeats: int,
                        statistic: Callable[[List[float]], float] = statistics.median) -> List[float]:
    """Median seconds (or another ``statistic`` of the runs) of each function, run in rotating order
    after one warm-up each, so that machine noise hits all of them alike."""
    for fn in fns:
        fn()
    times: List[List[float]] = [[] for _ in fns]
    for r in range(repeats):
        order = list(range(len(fns)))
        order = order[r % len(fns):] + order[:r % len(fns)]
        for i in order:
            times[i].append(time_once(fns[i], device))
    return [statistic(t) for t in times]


LOAD = 'import numpy as np\na = np.random.rand(512, 512)\nwhile True:\n    a = a @ a\n    a /= np.abs(a).max()\n'
"""A competing process, as a busy desktop runs: one thread multiplying 512 x 512 matrices without pause."""


@contextlib.contextmanager
def competing(count: int) -> Iterator[None]:
    """``count`` processes running :data:`LOAD` (one thread each) while the block runs."""
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')
    loads = [subprocess.Popen([sys.executable, '-c', LOAD], env=env) for _ in range(count)]
    try:
        yield
    finally:
        for load in loads:
            load.kill()
            load.wait()
