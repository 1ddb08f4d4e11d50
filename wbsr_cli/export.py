"""Export one subnet of a WBSR checkpoint as a plain network file: BasicSR's .pth, safetensors or ONNX.

    wbsr-export --model net_g_latest.pth --subnet 52,8 --output MSRResNet_52x8.onnx
    wbsr-export -n WBSR_MSRResNet_x4_291 --subnet full --output MSRResNet.safetensors
        [--format pth|safetensors|onnx] [--param-key params] [-opt train_options.yml]

The subnet ``W,D`` (or ``full``) is the plain network BasicSR builds with ``num_feat: W`` and ``D``
blocks (``num_block`` for MSRResNet, ``num_block`` per group for RCAN). The format is ``--format``
or the output's extension; every format is one self-contained file, and ONNX is checked by
onnxruntime after export (docs/inference.md, "Deployment": which tool loads which file). An output
that is the checkpoint itself is refused. The command prints the ``network_g`` section that builds
the network. Safetensors and ONNX need the ``export`` extra (``pip install wbsr_basicsr[export]``).
"""
import argparse
import sys
from typing import List, Optional

from wbsr_cli import program


def parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_mutually_exclusive_group()
    model.add_argument('-n', '--model-name', help='a shipped model (wbsr-infer --list-models; default: the x4 one)')
    model.add_argument('--model', help='a WBSR checkpoint file (net_g_*.pth)')
    parser.add_argument('--subnet', required=True, help='W,D (e.g. 52,8) or full')
    parser.add_argument('--output', required=True, help='the file to write (.pth, .safetensors or .onnx)')
    parser.add_argument('--format', default='', help='one of pth, safetensors, onnx (default: the output\'s extension)')
    parser.add_argument('--param-key', default='params', help="the checkpoint's parameters to export (params, "
                                                                'params_ema)')
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    return parser


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    args = parser(prog).parse_args(argv)
    from wbsr_cli.jobs.export import run
    return run(args, program(prog))


if __name__ == '__main__':
    sys.exit(main())
