"""Timing helpers shared by the time profiles and the benchmark scripts: synchronised, interleaved, medians."""
import statistics
import time
from typing import Callable, List

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
