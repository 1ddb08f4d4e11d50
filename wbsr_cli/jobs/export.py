"""The work of ``wbsr-export`` (arguments and usage: ``wbsr_cli/export.py``)."""
import argparse
from pathlib import Path

import yaml

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr)
from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.inference.export import export, format_of
from wbsr_basicsr.inference.export import network_options as plain_network
from wbsr_basicsr.inference.supernet_entry import load_supernet
from wbsr_basicsr.utils.options import network_options
from wbsr_basicsr.zoo import check_outside_package, model_path
from wbsr_cli.jobs.errors import one_line_errors


def run(args: argparse.Namespace, name: str) -> int:
    """``wbsr-export`` with parsed ``args``; errors are one line starting with ``name``."""
    return one_line_errors(name, lambda: export_subnet(args), 'nothing was written.')


def export_subnet(args: argparse.Namespace) -> None:
    checkpoint = args.model or model_path(args.model_name)
    file_format = format_of(args.output, args.format)
    output = Path(args.output).resolve()
    if not output.parent.is_dir():
        raise ValueError(f'--output {args.output}: the folder {output.parent} does not exist.')
    if output.exists() and output.samefile(checkpoint):
        raise ValueError(f'--output {args.output} is the checkpoint being exported; choose another file name.')
    check_outside_package(args.output, '--output')
    net, _, _ = load_supernet(checkpoint, network_options(args.opt), args.param_key)
    subnet = parse_subnet(args.subnet, net)
    written = export(net, subnet, args.output, file_format)
    section = yaml.safe_dump({'network_g': plain_network(net, subnet)}, sort_keys=False)
    print(f'{checkpoint} subnet {subnet[0]}x{subnet[1]} -> {args.output}: {written}; the network is\n{section}', end='')


def parse_subnet(text: str, net: SlimmableSupernet) -> Subnet:
    """``W,D`` or ``full`` as one of ``net``'s subnets; ``ValueError`` naming the option otherwise."""
    if text == 'full':
        return net.full_subnet
    try:
        return net.validate_subnet(tuple(int(v) for v in text.split(',')))
    except ValueError as error:
        raise ValueError(f'--subnet {text}: {error}' if ',' in text else
                         f'--subnet {text}: expected W,D (e.g. 52,8) or full.') from None
