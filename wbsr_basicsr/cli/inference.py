"""Super-resolve your own LR images with a WBSR checkpoint, at a chosen share of the FLOPs.

    wbsr-infer -i photos/ -o results/ --model net_g_latest.pth --target 0.65
    python inference/inference_wbsr.py -i photo.png -o results/ --model net_g_latest.pth --full

One of: ``--target R`` (R x the full network's FLOPs; ``--scope image``: every image,
``folder``: over all inputs, hard images taking more), ``--ceil`` (Eq. 15), ``--alpha A``
(Eq. 16), ``--subnet W,D`` or ``--full`` (one subnet on the whole image, as plain BasicSR), or
``--row YAML`` (any inference row of ``val.rows``, e.g. ``"{mode: arm, target: 0.5}"``).
Inputs: PNG, JPEG, ... 8- or 16-bit, grey, colour or with alpha; unreadable or truncated files
are skipped and listed, and the exit status is then 1. Outputs ``<name>_<suffix>.<ext>`` are
planned before anything runs (no output replaces an input or another output: cli/outputs.py) and
written whole or not at all. Per image it prints the size, seconds, and % of the full network's
FLOPs on the whole image (the paper's per-patch figure beside it). See docs/inference.md.
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import yaml
from tqdm import tqdm

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr)
from basicsr.utils import tensor2img
from wbsr_basicsr.cli.outputs import OutputPlan, check_naming, input_files, plan_outputs, prepare_folder
from wbsr_basicsr.inference.engine import Allocations
from wbsr_basicsr.inference.rows import default_ladder, parse_rows
from wbsr_basicsr.inference.upscaler import Runtime, Upscaled, Upscaler
from wbsr_basicsr.routing import Router
from wbsr_basicsr.routing.gradient_router import LADDERS
from wbsr_basicsr.utils.allocation_map import allocation_map
from wbsr_basicsr.utils.atomic import write_atomically
from wbsr_basicsr.utils.image_io import UserImage, check_format, read_image, write_image
from wbsr_basicsr.utils.options import network_options

SCOPES = {'image': 'image', 'folder': 'dataset'}
FLOPS_UNITS = {'image': 'image_flops', 'patch': 'patch_flops'}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-i', '--input', required=True, help='an LR image or a folder of them')
    parser.add_argument('-o', '--output', required=True, help='the folder for the SR images')
    parser.add_argument('--model', required=True, help='a WBSR checkpoint (net_g_*.pth)')
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument('--target', type=float, help='share of the full network\'s FLOPs, in (0, 1]')
    mode.add_argument('--target-time', type=float, help='share of the full network\'s time on the whole image, in '
                                                          '(0, 1] (measured on this device: docs/inference.md)')
    mode.add_argument('--ceil', action='store_true', help="Eq. 15: class k to subnet ceil(kM/K)")
    mode.add_argument('--alpha', type=float, help='Eq. 16 with this alpha')
    mode.add_argument('--subnet', help='one subnet W,D on the whole image, e.g. 52,8')
    mode.add_argument('--full', action='store_true', help='the full network on the whole image')
    mode.add_argument('--row', help='any inference row as YAML, e.g. "{mode: arm, target: 0.5}" (docs/routing.md)')
    parser.add_argument('--scope', choices=tuple(SCOPES), default='image',
                        help='where --target or --target-time holds: every image (default) or the whole folder')
    parser.add_argument('--flops', choices=('image', 'patch'), default='image',
                        help='what --target counts: every FLOP run on the image, overlapping patches included '
                             "(image, default), or the paper's per-patch average (patch)")
    parser.add_argument('--ladder', choices=LADDERS,
                        help='subnets the router climbs (default: pareto if the checkpoint has a calibration, else full)')
    parser.add_argument('--device', default='auto', help='auto (default: CUDA when there is a GPU, else the CPU), '
                                                         'cpu or cuda[:N]')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--fp16', dest='fp16', action='store_const', const=True,
                           help='half precision under CUDA autocast (the default on CUDA)')
    precision.add_argument('--fp32', dest='fp16', action='store_const', const=False,
                           help='full precision on CUDA too')
    parser.add_argument('--max-batch', type=int, default=32, help='patches per forward: bounds memory (default 32)')
    parser.add_argument('--tile', type=int, help='--full, --subnet (and --target-time when it runs one subnet): '
                                                 'the whole image in tiles of this many LR pixels (bounds memory)')
    parser.add_argument('--tile-pad', type=int, help='LR pixels of margin around each tile, cropped off its output '
                                                     '(default 10)')
    parser.add_argument('--save-map', action='store_true', help="also write each image's allocation map")
    parser.add_argument('--suffix', default='wbsr', help='appended to output names (default wbsr; "" for none)')
    parser.add_argument('--ext', default='auto', help='output format: auto (the input\'s), png, jpg, tif, webp')
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    return parser.parse_args(argv)


def row_spec(args: argparse.Namespace) -> Dict:
    """The ``val.rows`` entry the options ask for."""
    if args.row is not None:
        spec = yaml.safe_load(args.row)
        if not isinstance(spec, dict):
            raise ValueError(f'--row {args.row}: expected a YAML mapping such as "{{mode: arm, target: 0.5}}".')
        return dict({'unit': FLOPS_UNITS[args.flops]}, **spec) if 'target' in spec else spec
    if args.target is not None:
        return dict(mode='target_flops', target=args.target, scope=SCOPES[args.scope], unit=FLOPS_UNITS[args.flops])
    if args.target_time is not None:
        return dict(mode='target_flops', target=args.target_time, scope=SCOPES[args.scope], unit='time')
    if args.ceil:
        return dict(mode='ceil')
    if args.alpha is not None:
        return dict(mode='budget', alpha=args.alpha)
    if args.full:
        return dict(mode='whole', subnet='full')
    try:
        return dict(mode='whole', subnet=[int(v) for v in args.subnet.split(',')])
    except ValueError:
        raise ValueError(f'--subnet {args.subnet}: expected W,D, e.g. 52,8.') from None


def inference_row(args: argparse.Namespace, upscaler: Upscaler) -> Router:
    """The one row the options ask for, from the router registry (:func:`parse_rows`)."""
    args.ladder = args.ladder or default_ladder(upscaler.routing)
    rows = parse_rows([row_spec(args)], upscaler.net, args.ladder, where='the requested row')
    if len(rows) != 1:
        raise ValueError(f'the options ask for {len(rows)} rows ({", ".join(row.label for row in rows)}); give one.')
    return rows[0]


def write_outputs(upscaler: Upscaler, target: Path, map_path: Optional[Path], image: UserImage,
                  result: Upscaled) -> None:
    """The SR image of one input at ``target`` and, with ``--save-map``, its allocation map at ``map_path``."""
    write_image(str(target), result.sr, image)
    if map_path is not None and result.subnet_ids is not None:
        picture = allocation_map(tensor2img([result.sr.cpu()]), result.corners, result.subnet_ids,
                                 upscaler.patch_size, upscaler.scale, len(upscaler.net.subnets))
        write_atomically(str(map_path), lambda tmp_path: cv2.imwrite(tmp_path, picture))


BUDGET_SLACK = 0.05
"""How far over its target (in shares of the full network) a row may spend on one image before the
command says the budget cannot be met there (one patch's step on small images)."""


def budget_note(result: Upscaled, row: Router) -> str:
    """What a budget did on one image: a time budget's predicted share of the full network's time and
    the subnet it ran on the whole image when routing could not beat that at the same time; a word
    when the image cannot be run within the budget at all."""
    note = ''
    if result.time_share is not None:
        note += f', {100 * result.time_share:.0f}% of the full network\'s predicted time'
    if result.whole_subnet is not None:
        width, depth = result.whole_subnet
        note += (f'; routing cannot beat subnet {width}x{depth} on the whole image in this time, so that ran '
                 '(docs/inference.md, "Time budgets")')
    spent = {'time': result.time_share, 'image_flops': result.honest_percent / 100,
             'patch_flops': result.flops_percent / 100}.get(row.unit)
    if spent is not None and spent > row.target + BUDGET_SLACK:
        note += f'; over the budget: {row.target:g} cannot be met on this image'
    return note


def check_arguments(args: argparse.Namespace) -> Runtime:
    """How the options ask to run; ``ValueError`` for values no run could use, before anything is read
    or loaded."""
    check_naming(args.suffix, args.ext)
    if args.tile_pad is not None and args.tile is None:
        raise ValueError('--tile-pad is the margin of --tile; give --tile too.')
    if args.tile is not None and not (args.full or args.subnet or args.target_time is not None):
        raise ValueError('--tile applies to --full, --subnet and --target-time (one subnet on the whole image); the '
                         'routed rows run in patches already.')
    return Runtime(args.device, args.fp16, args.max_batch, args.tile,
                   Runtime.tile_pad if args.tile_pad is None else args.tile_pad).resolved()


def setup(args: argparse.Namespace) -> Tuple[OutputPlan, Upscaler, Router]:
    """Everything before the first image is computed: the options, the inputs and where each one's
    output goes, the output folder, the model and the row; ``ValueError`` (or ``OSError``) otherwise."""
    runtime = check_arguments(args)
    plan = plan_outputs(input_files(Path(args.input)), Path(args.output), args.suffix, args.ext, args.save_map)
    for leftover in prepare_folder(Path(args.output)):
        print(f'removed {leftover}, left in {args.output} by a killed run', file=sys.stderr)
    upscaler = Upscaler.from_checkpoint(args.model, runtime, network_options(args.opt))
    row = inference_row(args, upscaler)
    if row.unit == 'time' and upscaler.routing.timing is None:
        profile = upscaler.measure_time_profile()
        print(f'{args.model} holds no time profile for {profile.device}: measured one for this run (scripts/'
              'calibrate_routing.py --time-only stores it)', file=sys.stderr)
    upscaler.check(row)
    return plan, upscaler, row


def request_of(args: argparse.Namespace, row: Router) -> str:
    """The summary line's words for what was asked."""
    if args.target is not None:
        return f'target {args.target} ({args.flops} FLOPs, {args.scope} scope, {args.ladder} ladder)'
    if args.target_time is not None:
        return f'target time {args.target_time} ({args.scope} scope, {args.ladder} ladder)'
    return row.label


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        plan, upscaler, row = setup(args)
    except (ValueError, OSError) as error:
        print(f'inference_wbsr: {error}', file=sys.stderr)
        return 2
    try:
        return upscale_all(args, plan, upscaler, row)
    except KeyboardInterrupt:
        print('inference_wbsr: interrupted; the outputs written so far are complete, no other was left '
              'half-written.', file=sys.stderr)
        return 130
    except OSError as error:
        print(f'inference_wbsr: {error}', file=sys.stderr)
        return 2


def upscale_all(args: argparse.Namespace, plan: OutputPlan, upscaler: Upscaler, row: Router) -> int:
    """Upscale every planned input; the exit status (1 if some input was skipped)."""
    for source in plan.earlier_outputs:
        tqdm.write(f'{source.name}: the output of an earlier run of this command; not an input, written again')
    skipped: List[str] = []

    def readable(path: Path) -> Optional[UserImage]:
        """The image, or None after noting why it is skipped."""
        try:
            image = read_image(str(path))
            check_format(str(plan.outputs[path]), image)
            return image
        except ValueError as error:
            skipped.append(str(error))
            tqdm.write(f'skipped {error}')
            return None

    files = plan.inputs
    allocations = Allocations()
    if upscaler.engine.allocated_first([row], len(files)):  # --scope folder: measure every image first
        files = [path for path in files if readable(path) is not None]
        allocations = upscaler.first_pass((read_image(str(path)).rgb for path in files), len(files), row)
    totals = {'seconds': 0., 'flops': 0., 'whole': 0., 'patch_percent': 0., 'images': 0}
    for index, path in enumerate(tqdm(files, unit='image', desc='WBSR')):
        image = readable(path)
        if image is None:
            continue
        subnet_ids, first_pass_seconds = allocations.of(row, index)
        result = upscaler.upscale(image.rgb, row, subnet_ids)
        result.seconds += first_pass_seconds
        target = plan.outputs[path]
        write_outputs(upscaler, target, plan.maps.get(path), image, result)
        out_h, out_w = result.sr.shape[-2:]
        tqdm.write(f'{path.name}: {image.size} -> {out_w}x{out_h}, {result.seconds:.2f} s, '
                   f'{result.honest_percent:.1f}% of the full FLOPs (per patch: {result.flops_percent:.1f}%)'
                   f'{budget_note(result, row)} -> {target}')
        for key, value in (('seconds', result.seconds), ('flops', result.flops), ('whole', result.whole_flops),
                           ('patch_percent', result.flops_percent), ('images', 1)):
            totals[key] += value
    if totals['images']:
        images, seconds = totals['images'], totals['seconds']
        print(f"{images} images, {request_of(args, row)}, {upscaler.device_name}: {seconds:.1f} s "
              f"({seconds / images:.2f} s per image), {100 * totals['flops'] / totals['whole']:.1f}% of the full "
              f"FLOPs (per patch: {totals['patch_percent'] / images:.1f}%)")
    if skipped:
        print(f'{len(skipped)} input(s) skipped:\n' + '\n'.join(f'  {entry}' for entry in skipped), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
