"""What every ``--target-time`` plan is on benchmark sets, to show that a change of the code left the plans
and their outputs as they were:

    python benchmarks/plan_fingerprints.py -n WBSR_MSRResNet_x4_291 --bench <prepare_benchmarks output> \\
        --output plans_after.json [--sets Set5 Set14]
    cmp plans_before.json plans_after.json

For every plan row (the default units and each unit alone; targets 0.5, 0.65, 0.8; image and folder
scope) and every LR image: the plan's unit, subnet per piece, predicted seconds and quality, and the
SHA-256 of the SR image it runs. The seconds pricing took are measured, so they vary from run to run
and move the budget (``Plan.share``); here they are held at 0, which leaves nothing that varies.
"""
import argparse
import hashlib
import json
from pathlib import Path
from typing import Dict, List

import cv2
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import router_class
from wbsr_basicsr.zoo import model_path

UNITS = (None, ['image'], ['tile160'], ['patch'])
TARGETS = (0.5, 0.65, 0.8)


def lr_images(folder: Path) -> List[torch.Tensor]:
    return [torch.from_numpy(cv2.imread(str(path))[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
            for path in sorted(folder.glob('*.png'))]


@torch.no_grad()
def fingerprints(upscaler: Upscaler, dataset: str, images: List[torch.Tensor]) -> Dict[str, list]:
    engine, found = upscaler.engine, {}
    for units in UNITS:
        for target in TARGETS:
            for scope in ('image', 'dataset'):
                row = router_class('plan')(target=target, scope=scope, **({} if units is None else {'units': units}))
                planner = engine.planner(row)
                priced = [planner.price(lq) for lq in images]
                priced = [type(p)(p.options, p.full_seconds, 0.) for p in priced]
                plans = (planner.plan(priced, target) if scope == 'dataset' else
                         [planner.plan([image], target)[0] for image in priced])
                for index, (lq, plan) in enumerate(zip(images, plans)):
                    sr = engine.infer(lq, row, plan).sr
                    found[f'{dataset}/{row.label}/{index}'] = [
                        plan.unit.label, plan.ids.tolist(), round(plan.seconds, 9), round(plan.quality, 9),
                        hashlib.sha256(sr.numpy().tobytes()).hexdigest()[:16]]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--model-name', default=None, help='a shipped model (default: the x4 one)')
    parser.add_argument('--bench', type=Path, required=True, help='the output of wbsr-prepare-benchmarks')
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    parser.add_argument('--output', type=Path, required=True, help='the JSON file to write')
    args = parser.parse_args()
    upscaler = Upscaler.from_checkpoint(model_path(args.model_name), Runtime('cpu', False, 32))
    scale = upscaler.scale
    found = {}
    for dataset in args.sets:
        found.update(fingerprints(upscaler, dataset, lr_images(args.bench / dataset / f'LRbicx{scale}')))
    args.output.write_text(json.dumps(found, indent=0))
    print(f'{len(found)} plans -> {args.output}')


if __name__ == '__main__':
    main()
