"""The work of ``wbsr-infer`` (arguments: ``wbsr_cli/infer.py``): plan the outputs, load the model,
upscale every input under the requested row, write each output whole (docs/inference.md).
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
from tqdm import tqdm

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr)
from basicsr.utils import tensor2img
from wbsr_basicsr.budgets import BUDGET_UNITS
from wbsr_basicsr.inference.engine import Allocations
from wbsr_basicsr.inference.rows import default_ladder, parse_rows
from wbsr_basicsr.inference.supernet_entry import fingerprint
from wbsr_basicsr.inference.upscaler import Runtime, Upscaled, Upscaler
from wbsr_basicsr.plans import units_of
from wbsr_basicsr.routing import Router, router_class
from wbsr_basicsr.routing.scopes import SCOPES
from wbsr_basicsr.runtime.timing import TimeProfile, cached_profile, cached_profile_path, host_name, keep_profile
from wbsr_basicsr.utils.allocation_map import allocation_map
from wbsr_basicsr.utils.atomic import write_atomically
from wbsr_basicsr.utils.image_io import UserImage, check_format, read_image, resize_output, write_image
from wbsr_basicsr.utils.options import load_yaml, network_options
from wbsr_basicsr.zoo import model_path, models_table
from wbsr_cli.jobs.errors import one_line_errors
from wbsr_cli.jobs.output_folder import OutputFolder
from wbsr_cli.jobs.outputs import OutputPlan, check_naming, input_files, plan_outputs

SCOPE_OPTIONS = {'image': 'image', 'folder': 'dataset'}
FLOPS_UNITS = {'image': 'image_flops', 'patch': 'patch_flops'}


def time_scope(args: argparse.Namespace) -> str:
    """Where ``--target-time`` holds: ``--scope``, else over the folder when the input is one (the
    budget then lands on the folder's total, closed-loop), else on the image."""
    return args.scope or ('folder' if Path(args.input).is_dir() else 'image')


def row_spec(args: argparse.Namespace) -> Dict:
    """The ``val.rows`` entry the options ask for."""
    if args.row is not None:
        spec = load_yaml(args.row, f'--row {args.row}')
        if not isinstance(spec, dict):
            raise ValueError(f'--row {args.row}: expected a YAML mapping such as "{{mode: arm, target: 0.5}}".')
        if args.flops is not None and 'target' not in spec:
            raise ValueError(f'--flops is what a FLOPs target counts; the row {args.row} has no target.')
        if 'target' not in spec or {'unit', 'budget_unit'} & spec.keys() or router_class(spec.get('mode')).planned:
            return spec  # a plan row counts time
        return dict(spec, budget_unit=FLOPS_UNITS[args.flops or 'image'])
    if args.target is not None:
        return dict(mode='target_flops', target=args.target, scope=SCOPE_OPTIONS[args.scope or 'image'],
                    budget_unit=FLOPS_UNITS[args.flops or 'image'])
    if args.target_time is not None:
        units = {} if args.units is None else {'units': args.units.split(',')}
        return dict(mode='plan', target=args.target_time, scope=SCOPE_OPTIONS[time_scope(args)], **units)
    if args.ceil:
        return dict(mode='ceil')
    if args.alpha is not None:
        return dict(mode='budget', alpha=args.alpha)
    if args.subnet is None:
        return dict(mode='whole', subnet='full')  # --full, the default
    try:
        return dict(mode='whole', subnet=[int(v) for v in args.subnet.split(',')])
    except ValueError:
        raise ValueError(f'--subnet {args.subnet}: expected W,D, e.g. 52,8.') from None


def inference_row(args: argparse.Namespace, spec: Dict, upscaler: Upscaler) -> Router:
    """The one row ``spec`` (:func:`row_spec`) asks for, from the router registry (:func:`parse_rows`)."""
    args.ladder = args.ladder or default_ladder(upscaler.routing)
    rows = parse_rows([spec], upscaler.net, args.ladder, where='the requested row')
    if len(rows) != 1:
        raise ValueError(f'the options ask for {len(rows)} rows ({", ".join(row.label for row in rows)}); give one.')
    return rows[0]


def write_outputs(upscaler: Upscaler, folder: OutputFolder, target: Path, map_path: Optional[Path], image: UserImage,
                  result: Upscaled, outscale: Optional[float]) -> Tuple[int, int]:
    """The SR image of one input at ``target`` (resized to ``outscale`` x the input if given) and, with
    ``--save-map``, its allocation map at ``map_path`` (when patches were routed), both through the output
    ``folder``'s ledger. The written image's width and height."""
    sr = result.sr if outscale is None else resize_output(result.sr, image, outscale)
    folder.write(target, lambda: write_image(str(target), sr, image))
    if map_path is not None and result.subnet_ids is not None:
        picture = allocation_map(tensor2img([result.sr.cpu()]), result.corners, result.subnet_ids,
                                 upscaler.patch_size, upscaler.scale, len(upscaler.net.subnets))
        folder.write(map_path, lambda: write_atomically(str(map_path), lambda tmp_path: cv2.imwrite(tmp_path, picture)))
    return sr.shape[-1], sr.shape[-2]


PROFILE_MINUTES = '5-16 minutes for the shipped x4 model at 2 threads, 26 at 1'
"""How long measuring a time profile took, quiet, on the 2-core CPUs of docs/inference.md ("Time budgets")."""
BUDGET_SLACK = 0.05
"""How far over its target (in shares of the full network) a row may spend on one image before the
command says the budget cannot be met there (one patch's step on small images)."""


def plan_note(result: Upscaled, subnets: List[Tuple[int, int]], smallest: Optional[int]) -> str:
    """Which plan ran on one image and why: its allocation and predicted share of the full network's
    time, with its predicted PSNR beside the other units' best at the same budget (when calibrated); on
    an image smaller than the time profile measured (``smallest`` LR pixels), that no share holds there."""
    plan = result.plan
    if result.unmeasured:
        return (f'; too small for a time budget: under {smallest} LR pixels (the smallest image timed) its time is '
                f'mostly fixed costs, so the budget does not hold; plan {plan.describe(subnets)} ran')
    note = (f"; plan {plan.describe(subnets)}, {100 * plan.share:.0f}% of the full network's predicted time "
            f'({plan.seconds + plan.pricing:.2f} s predicted)')
    if plan.calibrated:
        note += f', {plan.quality:.2f} dB predicted'
        others = [f'{label}: {quality:.2f} dB at {100 * share:.0f}%' for label, (quality, share) in plan.others.items()]
        if plan.images > 1:
            quality, share = plan.group
            others.insert(0, f'{plan.unit.label}: {quality:.2f} dB at {100 * share:.0f}%')
            note += f' (over the folder: {"; ".join(others)})'
        elif others:
            note += f' ({"; ".join(others)})'
    return note


def budget_note(result: Upscaled, row: Router, smallest: Optional[int], subnets: List[Tuple[int, int]]) -> str:
    """What a budget did on one image: a plan row's plan (:func:`plan_note`); a time budget's predicted
    share of the full network's time and the subnet it ran on the whole image when routing could not
    beat that at the same time; a word when the image cannot be run within the budget at all, or is
    too small for a time budget (``smallest``: the fewest LR pixels the time profile measured)."""
    if result.plan is None and result.unmeasured:
        width, depth = result.whole_subnet
        return (f'; too small for a time budget: under {smallest} LR pixels (the smallest image timed) its time is '
                f'mostly fixed costs, so the budget does not hold; subnet {width}x{depth} ran on the whole image')
    note = ''
    if result.plan is not None:
        note += plan_note(result, subnets, smallest)
    elif result.time_share is not None:
        note += f', {100 * result.time_share:.0f}% of the full network\'s predicted time'
    if result.whole_subnet is not None:
        width, depth = result.whole_subnet
        note += (f'; routing cannot beat subnet {width}x{depth} on the whole image in this time, so that ran '
                 '(docs/inference.md, "Time budgets")')
    spent = None  # over a folder, images spend more or less than the target by design
    if row.target is not None and not SCOPES[row.scope].spans_images(2):
        spent = BUDGET_UNITS[row.budget_unit].spent(result)
    if spent is not None and spent > row.target + BUDGET_SLACK:
        note += f'; over the budget: {row.target:g} cannot be met on this image'
    return note


def check_arguments(args: argparse.Namespace) -> Runtime:
    """How the options ask to run; ``ValueError`` for values no run could use, before anything is read
    or loaded."""
    check_naming(args.suffix, args.ext)
    if args.tile is not None and args.tile < 0:
        raise ValueError(f'--tile {args.tile}: give a tile size in LR pixels, or 0 for none.')
    if args.tile_pad is not None and not args.tile:
        raise ValueError('--tile-pad is the margin of --tile; give --tile too.')
    if args.tile and mode_option(args) not in ('--full', '--subnet', '--target-time'):
        raise ValueError('--tile applies to --full, --subnet and --target-time (one subnet on the whole image); the '
                         'routed rows run in patches already.')
    if args.units is not None:
        if args.target_time is None:
            raise ValueError('--units are the routing units --target-time weighs; give --target-time too.')
        try:
            units_of(args.units.split(','))
        except ValueError as error:
            raise ValueError(f'--units {args.units}: {error}') from None
    check_applicable(args)
    for option, value, what in (('--target', args.target, 'FLOPs'), ('--target-time', args.target_time, 'time')):
        if value is not None and not 0 < value <= 1:
            raise ValueError(f"{option} {value}: give a share of the full network's {what} in (0, 1].")
    if args.pre_pad < 0:
        raise ValueError(f'--pre-pad {args.pre_pad}: a border cannot be negative.')
    if args.outscale is not None and not 0 < args.outscale <= 16:
        raise ValueError(f'--outscale {args.outscale}: give an output scale in (0, 16].')
    device = args.device if args.gpu_id is None else f'cuda:{args.gpu_id}'
    return Runtime(device, args.fp16, args.max_batch, args.tile,
                   Runtime.tile_pad if args.tile_pad is None else args.tile_pad).resolved()


def requested_row(args: argparse.Namespace) -> Dict:
    """The row the options ask for (:func:`row_spec`), checked against ``--save-map`` before the model loads."""
    spec = row_spec(args)
    if args.save_map and not router_class(spec.get('mode')).patchwise:
        raise ValueError(f'--save-map writes the subnets chosen per patch; a {spec["mode"]} row runs one subnet on '
                         'the whole image, so there is no map.')
    return spec


def check_applicable(args: argparse.Namespace) -> None:
    """``ValueError`` for an option the chosen mode does not use (it would be ignored in silence)."""
    mode = mode_option(args)
    applies = {'--scope': (args.scope, ('--target', '--target-time')),
               '--flops': (args.flops, ('--target', '--row')),
               '--ladder': (args.ladder, ('--target', '--ceil', '--alpha', '--row')),
               '--save-map': (args.save_map or None, ('--target', '--target-time', '--ceil', '--alpha', '--row'))}
    for option, (value, modes) in applies.items():
        if value is not None and mode not in modes:
            raise ValueError(f'{option} applies to {", ".join(modes)}; {mode} does not use it.')


def mode_option(args: argparse.Namespace) -> str:
    """The option that chose the mode (``--full`` when none did)."""
    given = {'--subnet': args.subnet, '--target-time': args.target_time, '--target': args.target,
             '--ceil': args.ceil or None, '--alpha': args.alpha, '--row': args.row}
    return next((option for option, value in given.items() if value is not None), '--full')


def checkpoint_of(args: argparse.Namespace) -> str:
    """The checkpoint file: ``--model``, or the shipped model ``-n`` names (default: the x4 one)."""
    return args.model or model_path(args.model_name)


def setup(args: argparse.Namespace, runtime: Runtime, spec: Dict, checkpoint: str, inputs: List[Path],
          folder: OutputFolder) -> Tuple[OutputPlan, Upscaler, Router]:
    """Everything else before the first image is computed: where each input's output goes in the claimed
    output ``folder``, the model and the row; ``ValueError`` (or ``OSError``) otherwise."""
    plan = plan_outputs(inputs, folder, args.suffix, args.ext, args.save_map,
                        named_explicitly=Path(args.input).is_file())
    upscaler = Upscaler.from_checkpoint(checkpoint, runtime, network_options(args.opt))
    row = inference_row(args, spec, upscaler)
    if TimeProfile in row.requirements():
        check_time_profile(upscaler, checkpoint)
    upscaler.check(row)
    return plan, upscaler, row


def check_time_profile(upscaler: Upscaler, checkpoint: str) -> None:
    """Where the checkpoint holds no time profile for the device, use the one kept in the user's cache
    folder for this supernet, device, thread count and processor, or re-scale the checkpoint's profile of
    another thread count or processor (seconds), or else measure one (minutes), and keep it there; say
    so where the checkpoint's was measured on another processor."""
    profile, here = upscaler.routing.get(TimeProfile), host_name(upscaler.device)
    if profile is None:
        kept = cached_profile_path(fingerprint(upscaler.net), upscaler.device_name, here)
        profile = cached_profile(kept, upscaler.device_name, here, upscaler.patch_size)
        if profile is not None:
            print(f'{checkpoint} holds no time profile for {upscaler.device_name}: using the one measured here '
                  f'earlier ({kept})', file=sys.stderr)
            upscaler.use_time_profile(profile)
            return
        rescaled = upscaler.rescale_time_profile()
        if rescaled is not None:
            print(f'{checkpoint} holds no time profile for {upscaler.device_name}: its profile for '
                  f'{rescaled.rescaled_from} re-scaled by timing three subnets on one image (kept in {kept}; '
                  f'wbsr-calibrate --time-only measures one in full: {PROFILE_MINUTES})', file=sys.stderr)
            keep_profile(kept, rescaled)
            return
        print(f'{checkpoint} holds no time profile for {upscaler.device_name}: measuring one (once: it is kept in '
              f'{kept}; {PROFILE_MINUTES} on a quiet CPU)', file=sys.stderr, flush=True)
        keep_profile(kept, upscaler.measure_time_profile())
    elif profile.host != here:
        print(f'{checkpoint}: its time profile for {profile.device} was measured on '
              f'{profile.host or "an unrecorded processor"}, this is {here or "another"}; budgets may miss by 10% or '
              'more (wbsr-calibrate --time-only measures this one)', file=sys.stderr)


def request_of(args: argparse.Namespace, row: Router) -> str:
    """The summary line's words for what was asked."""
    if args.target is not None:
        return f'target {args.target} ({args.flops or "image"} FLOPs, {args.scope or "image"} scope, {args.ladder} ladder)'
    if args.target_time is not None:
        return f'target time {args.target_time} ({time_scope(args)} scope, units {",".join(row.units)})'
    return row.label


def run(args: argparse.Namespace, name: str) -> int:
    """``wbsr-infer`` with parsed ``args``; errors are one line starting with ``name``."""
    if args.list_models:
        return one_line_errors(name, lambda: print(models_table()), 'nothing was written.')
    status = 0

    def work() -> None:
        nonlocal status
        runtime, spec, checkpoint = check_arguments(args), requested_row(args), checkpoint_of(args)
        inputs, not_read = input_files(Path(args.input))
        folder = OutputFolder.claim(Path(args.output))
        try:
            for note in folder.notes:
                print(f'{name}: {note}', file=sys.stderr)
            plan, upscaler, row = setup(args, runtime, spec, checkpoint, inputs, folder)
            status = upscale_all(args, plan, upscaler, row, folder)
        finally:
            folder.release()
        if not_read:
            print(f'{len(not_read)} entr{"ies" if len(not_read) > 1 else "y"} of {args.input} not read:\n' +
                  '\n'.join(f'  {entry}' for entry in not_read), file=sys.stderr)

    return one_line_errors(name, work, 'the outputs written so far are complete, no other was left half-written.') \
        or status


def upscale_all(args: argparse.Namespace, plan: OutputPlan, upscaler: Upscaler, row: Router,
                folder: OutputFolder) -> int:
    """Upscale every planned input into ``folder``; the exit status (1 if some input was skipped)."""
    for source in plan.earlier_outputs:
        tqdm.write(f'{source.name}: an output of an earlier run of this command (its ledger lists it); not an input')
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
    timing = upscaler.routing.get(TimeProfile)
    smallest = timing.pixels[0] if timing is not None else None
    for index, path in enumerate(tqdm(files, unit='image', desc='WBSR')):
        image = readable(path)
        if image is None:
            continue
        subnet_ids, first_pass_seconds = allocations.of(row, index)
        result = upscaler.upscale(image.rgb, row, subnet_ids, args.pre_pad)
        result.seconds += first_pass_seconds
        target = plan.outputs[path]
        out_w, out_h = write_outputs(upscaler, folder, target, plan.maps.get(path), image, result, args.outscale)
        tqdm.write(f'{path.name}: {image.size} -> {out_w}x{out_h}, {result.seconds:.2f} s, '
                   f'{result.honest_percent:.1f}% of the full FLOPs (per patch: {result.flops_percent:.1f}%)'
                   f'{budget_note(result, row, smallest, upscaler.net.subnets)} -> {target}')
        for key, value in (('seconds', result.seconds), ('flops', result.flops), ('whole', result.full_flops),
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

