"""Does a folder's time budget land when the time profile is off? The folder run through the command
as a user runs it (``wbsr-infer --target-time R`` on a folder: folder scope), closed-loop and
open-loop (``closed_loop: false``), with the checkpoint's time profile for this device distorted by
known factors, against ``--full`` on the same folder.

    python benchmarks/bench_closed_loop.py -n WBSR_MSRResNet_x4_291 --images <folder of LR images> \\
        --work closed_loop [--targets 0.5 0.65 0.8] [--errors 1 0.5,1 2] [--rounds 1] [--threads 2] [--load K]

``--errors``: each ``a`` (every subnet's profile seconds times ``a``) or ``a,b`` (every subnet but
the full network times ``a``, the full network times ``b``): ``0.5,1`` is a profile that says the
smaller subnets run twice as fast as they do, ``2`` one measured on a machine twice as fast.
``--load K`` runs K competing single-thread processes (``wbsr_basicsr.utils.clock.LOAD``) throughout.
Printed per round, error and target: each loop's total seconds over ``--full``'s (the mean of one
``--full`` run before and one after the round's runs), and the error against the target; a
markdown table of the same into ``<work>/closed_loop.md``.
"""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from wbsr_basicsr.inference.supernet_entry import SupernetEntry
from wbsr_basicsr.runtime.timing import TimeProfile, device_name
from wbsr_basicsr.utils.clock import competing
from wbsr_basicsr.zoo import model_path

TOTAL = re.compile(r'^\d+ images, .*: ([\d.]+) s \(', re.MULTILINE)
"""The command's summary line, its total seconds."""


def distorted(profile: TimeProfile, error: Sequence[float]) -> TimeProfile:
    """``profile`` with every subnet's seconds times ``error[0]``, the full network's times ``error[-1]``."""
    return profile.scaled([error[0]] * (len(profile.patch) - 1) + [error[-1]])


def checkpoints(model: str, errors: List[str], name: str, work: Path) -> Dict[str, Path]:
    """A copy of ``model`` per error, its profile for the device ``name`` distorted."""
    entry = SupernetEntry.read(model)
    profile = entry.time_profile(name)
    if profile is None:
        raise SystemExit(f'{model} holds no time profile for {name}: measure one (wbsr-calibrate --time-only).')
    content = torch.load(model, weights_only=True)
    paths = {}
    for error in errors:
        path = work / f'profile_x{error.replace(",", "_")}.pth'
        if not path.exists():
            factors = [float(part) for part in error.split(',')]
            torch.save(entry.with_timing(distorted(profile, factors)).store(content), path)
        paths[error] = path
    return paths


def seconds(checkpoint: Path, images: Path, output: Path, mode: List[str], threads: int) -> float:
    """The command's total seconds over the folder (its own summary line)."""
    command = [sys.executable, '-m', 'wbsr_cli.infer', '-i', str(images), '-o', str(output), '--model',
               str(checkpoint), *mode]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(TOTAL.search(result.stdout).group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--model-name', default='WBSR_MSRResNet_x4_291')
    parser.add_argument('--model', help='a checkpoint instead of a shipped name')
    parser.add_argument('--images', type=Path, required=True, help='a folder of LR images')
    parser.add_argument('--work', type=Path, required=True)
    parser.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.65, 0.8])
    parser.add_argument('--errors', nargs='+', default=['1', '0.5,1', '2'])
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2, help='OMP_NUM_THREADS of the commands (and the profile)')
    parser.add_argument('--load', type=int, default=0, help='competing single-thread processes during the runs')
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model or str(model_path(args.model_name))
    torch.set_num_threads(args.threads)
    paths = checkpoints(model, args.errors, device_name(torch.device('cpu')), args.work)
    out = args.work / 'out'
    load = f'{args.load} competing process(es)' if args.load else 'quiet'
    lines = [f'{model}, {args.threads} threads, {load}, folder {args.images}', '',
             '| round | profile error | target | closed loop: time / full | open loop: time / full |',
             '|---|---|---|---|---|']
    with competing(args.load):
        for round_index in range(1, args.rounds + 1):
            runs = []
            full_before = seconds(paths[args.errors[0]], args.images, out, ['--full'], args.threads)
            for error in args.errors:
                for target in args.targets:
                    loops = [seconds(paths[error], args.images, out, ['--row', f'{{mode: plan, target: {target}, '
                                                                      f'scope: dataset, closed_loop: {closed}}}'],
                                     args.threads) for closed in ('true', 'false')]
                    runs.append((error, target, loops))
            full = (full_before + seconds(paths[args.errors[0]], args.images, out, ['--full'], args.threads)) / 2
            for error, target, loops in runs:
                shares = [f'{seconds / full:.2f} ({seconds / full / target - 1:+.0%})' for seconds in loops]
                lines.append(f'| {round_index} | {error} | {target:g} | {shares[0]} | {shares[1]} |')
            lines.append(f'| {round_index} | --full | | {full:.1f} s | |')
            print('\n'.join(lines[-len(runs) - 1:]), flush=True)
    (args.work / 'closed_loop.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
