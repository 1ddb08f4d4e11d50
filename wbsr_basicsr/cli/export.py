"""Export one subnet of a WBSR checkpoint as a plain network file: BasicSR's .pth, safetensors or ONNX.

    wbsr-export --model net_g_latest.pth --subnet 52,8 --output MSRResNet_52x8.onnx
    python scripts/export_subnet.py --model net_g_latest.pth --subnet full --output MSRResNet.safetensors
        [--format pth|safetensors|onnx] [--param-key params] [-opt train_options.yml]

The subnet ``W,D`` (or ``full``) is the plain network BasicSR builds with ``num_feat: W`` and ``D``
blocks (``num_block`` for MSRResNet, ``num_block`` per group for RCAN). The format is ``--format``
or the output's extension; ONNX is checked by onnxruntime after export (docs/inference.md,
"Deployment": which tool loads which file). The script prints the ``network_g`` section that
builds the network.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

import yaml

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr)
from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.inference.checkpoint import load_supernet
from wbsr_basicsr.inference.export import FORMATS, export, format_of
from wbsr_basicsr.inference.export import network_options as plain_network
from wbsr_basicsr.utils.options import network_options


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='a WBSR checkpoint (net_g_*.pth)')
    parser.add_argument('--subnet', required=True, help='W,D (e.g. 52,8) or full')
    parser.add_argument('--output', required=True, help='the file to write (.pth, .safetensors or .onnx)')
    parser.add_argument('--format', default='', help=f'one of {", ".join(FORMATS)} (default: the output\'s extension)')
    parser.add_argument('--param-key', default='params', help="the checkpoint's parameters to export (params, "
                                                                'params_ema)')
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    args = parser.parse_args(argv)
    try:
        file_format = format_of(args.output, args.format)
        folder = Path(args.output).resolve().parent
        if not folder.is_dir():
            raise ValueError(f'--output {args.output}: the folder {folder} does not exist.')
        net, _, _ = load_supernet(args.model, network_options(args.opt), args.param_key)
        subnet = parse_subnet(args.subnet, net)
        written = export(net, subnet, args.output, file_format)
    except (ValueError, OSError, KeyError) as error:
        print(f'export_subnet: {error}', file=sys.stderr)
        return 2
    section = yaml.safe_dump({'network_g': plain_network(net, subnet)}, sort_keys=False)
    print(f'{args.model} subnet {subnet[0]}x{subnet[1]} -> {args.output}: {written}; the network is\n{section}', end='')
    return 0


def parse_subnet(text: str, net: SlimmableSupernet) -> Subnet:
    """``W,D`` or ``full`` as one of ``net``'s subnets; ``ValueError`` naming the option otherwise."""
    if text == 'full':
        return net.full_subnet
    try:
        return net.validate_subnet(tuple(int(v) for v in text.split(',')))
    except ValueError as error:
        raise ValueError(f'--subnet {text}: {error}' if ',' in text else
                         f'--subnet {text}: expected W,D (e.g. 52,8) or full.') from None


if __name__ == '__main__':
    sys.exit(main())
