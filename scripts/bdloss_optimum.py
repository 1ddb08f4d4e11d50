"""Where BDLoss puts a pixel's optimum: RMS and largest shift from the target over grey levels 0-255.

For each likelihood and noise scale, every target grey level's loss-minimising prediction is
found on a grid of 0.05 grey levels (``per_pixel_optimum``); a loss that trains towards the
truth keeps it on the target. docs/bdloss.md quotes this on the prior of the 291 photos.

    python scripts/bdloss_optimum.py --prior datasets/DIV2K/bdloss_prior.json [--scales 0.01 0.05]
"""
import argparse

import numpy as np

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from wbsr_basicsr.losses.bd_loss import LIKELIHOODS, BDLoss, per_pixel_optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--prior', required=True, help='bdloss_prior.json from prepare_div2k.py')
    parser.add_argument('--scales', type=float, nargs='+', default=[0.005, 0.01, 0.02, 0.05, 0.062, 0.1])
    args = parser.parse_args()
    print(f'prior {args.prior} (intensity space); shift = optimum - target, in grey levels')
    print(f"{'likelihood':<12}{'scale':>8}{'RMS shift':>12}{'max |shift|':>13}")
    for likelihood in LIKELIHOODS:
        for scale in args.scales:
            loss = BDLoss(gmm_file=args.prior, likelihood=likelihood, space='intensity', init_sigma=scale)
            shift = per_pixel_optimum(loss) - np.arange(256)
            print(f'{likelihood:<12}{scale:>8.3f}{np.sqrt(np.mean(shift**2)):>12.2f}{np.abs(shift).max():>13.2f}')


if __name__ == '__main__':
    main()
