"""Cost of BDLoss against one MSRResNet x4 training step on the same batch (target: <= 10%).

Times, interleaved: (a) BDLoss forward + backward on a 16 x 3 x 128 x 128 prediction, and
(b) a full training step of BasicSR's MSRResNet x4 with L1 (forward, loss, backward, Adam
step) on LR 16 x 3 x 32 x 32 with the same 128 x 128 targets. Prints median times and a / b.

    python benchmarks/bench_bdloss_cost.py [--device cpu|cuda] [--repeats 7] [--components 8]
        [--likelihood laplace|gaussian] [--space intensity|detail]
"""
import argparse

import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from basicsr.archs.srresnet_arch import MSRResNet
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.losses.bd_loss import BDLoss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--components', type=int, default=8, help='Gaussian components of the prior')
    parser.add_argument('--likelihood', default='laplace', choices=['laplace', 'gaussian'])
    parser.add_argument('--space', default='intensity', choices=['intensity', 'detail'])
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(args.components))
    loss = BDLoss(weights=weights.tolist(), means=rng.uniform(-0.1, 0.1, args.components).tolist(),
                  variances=rng.uniform(1e-5, 1e-2, args.components).tolist(), space=args.space,
                  likelihood=args.likelihood).to(device)
    loss.sigma_parameters()  # sigma learns, as in WBSRModel: its gradient is part of the cost
    net = MSRResNet(num_feat=64, num_block=16, upscale=4).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    lr_batch = torch.rand(16, 3, 32, 32, device=device)
    gt_batch = torch.rand(16, 3, 128, 128, device=device)
    pred = torch.rand(16, 3, 128, 128, device=device, requires_grad=True)

    def bdloss_step() -> None:
        loss(pred, gt_batch).backward()

    def training_step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.l1_loss(net(lr_batch), gt_batch).backward()
        optimizer.step()

    steps = {'BDLoss fwd+bwd': bdloss_step, 'MSRResNet x4 step': training_step}
    medians = dict(zip(steps, interleaved_medians(list(steps.values()), device, args.repeats)))
    print(f'device={device} torch={torch.__version__} threads={torch.get_num_threads()} repeats={args.repeats} '
          f'likelihood={args.likelihood} space={args.space} components={args.components}')
    for name, seconds in medians.items():
        print(f'{name:<20}{seconds * 1000:>10.1f} ms')
    print(f"BDLoss / step = {medians['BDLoss fwd+bwd'] / medians['MSRResNet x4 step']:.4f}")


if __name__ == '__main__':
    main()
