"""Export one subnet of a WBSR checkpoint as a plain BasicSR network file.

    wbsr-export (or python scripts/export_subnet.py) --model net_g_latest.pth --subnet 52,8 --output MSRResNet_52x8.pth
        [--param-key params] [-opt train_options.yml]

The subnet ``W,D`` (or ``full``) is the plain network BasicSR builds with ``num_feat: W`` and ``D``
blocks (``num_block`` for MSRResNet, ``num_block`` per group for RCAN); the script prints the
``network_g`` section that loads the file, e.g. with BasicSR's own test.py.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

import yaml

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr)
from wbsr_basicsr.inference.checkpoint import load_supernet
from wbsr_basicsr.utils.options import network_options


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='a WBSR checkpoint (net_g_*.pth)')
    parser.add_argument('--subnet', required=True, help='W,D (e.g. 52,8) or full')
    parser.add_argument('--output', required=True, help='the plain network file to write')
    parser.add_argument('--param-key', default='params', help="the checkpoint's parameters to export (params, "
                                                                'params_ema)')
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    args = parser.parse_args(argv)
    try:
        folder = Path(args.output).resolve().parent
        if not folder.is_dir():
            raise ValueError(f'--output {args.output}: the folder {folder} does not exist.')
        net, _, _ = load_supernet(args.model, network_options(args.opt), args.param_key)
        if args.subnet == 'full':
            subnet = net.full_subnet
        else:
            try:
                subnet = net.validate_subnet(tuple(int(v) for v in args.subnet.split(',')))
            except ValueError as error:
                raise ValueError(f'--subnet {args.subnet}: {error}' if ',' in args.subnet else
                                 f'--subnet {args.subnet}: expected W,D (e.g. 52,8) or full.') from None
        state = net.export_subnet(subnet, args.output)
    except (ValueError, OSError, KeyError) as error:
        print(f'export_subnet: {error}', file=sys.stderr)
        return 2
    section = yaml.safe_dump({'network_g': dict(type=net.plain_arch, **net.plain_options(subnet))}, sort_keys=False)
    print(f'{args.model} subnet {subnet[0]}x{subnet[1]} -> {args.output} '
          f'({sum(v.numel() for v in state.values())} parameters); load it with\n{section}', end='')
    return 0


if __name__ == '__main__':
    sys.exit(main())
