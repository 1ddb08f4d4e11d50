"""One training step of WBSRModel (sandwich of 3 subnets) against SRModel with the full network.

Both models are built by BasicSR's ``build_model`` from the same options (MSRResNet x4, batch
16, GT 128, L1; WBSRModel adds ``subnet_sampling: sandwich, num_random: 1``) and step on the
same random batch, interleaved. Prints median seconds per step and their ratio; the sandwich
runs the full network, the smallest subnet and one random middle one (FLOPs 100% + 21% + the
middle one's share, on average about 1.7 x the full network's).

    python benchmarks/bench_training_step.py [--batch 16] [--repeats 5] [--device cpu|cuda]
"""
import argparse
import tempfile

import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from basicsr.models import build_model
from wbsr_basicsr.utils.clock import interleaved_medians


def options(model_type: str, network: str, device: torch.device, folder: str) -> dict:
    opt = dict(name=f'bench_{model_type}', model_type=model_type, scale=4, num_gpu=int(device.type == 'cuda'),
               is_train=True, dist=False, rank=0, world_size=1, manual_seed=0,
               network_g=dict(type=network, num_feat=64, num_block=16, upscale=4),
               path=dict(pretrain_network_g=None, models=folder, training_states=folder),
               train=dict(ema_decay=0, optim_g=dict(type='Adam', lr=2e-4, betas=[0.9, 0.999]),
                          scheduler=dict(type='MultiStepLR', milestones=[10**6], gamma=0.5),
                          pixel_opt=dict(type='L1Loss', loss_weight=1.0),
                          subnet_sampling=dict(strategy='sandwich', num_random=1)),
               val=dict(rows=[dict(mode='fixed', subnet='full')]), logger=dict(print_freq=100))
    if model_type == 'SRModel':
        opt['train'].pop('subnet_sampling')
    return opt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    batch = {'lq': torch.rand(args.batch, 3, 32, 32), 'gt': torch.rand(args.batch, 3, 128, 128)}
    with tempfile.TemporaryDirectory() as folder:
        plain = build_model(options('SRModel', 'MSRResNet', device, folder))
        wbsr = build_model(options('WBSRModel', 'WBSRMSRResNet', device, folder))
        steps = {}
        for name, model in (('SRModel', plain), ('WBSRModel', wbsr)):
            def step(model=model) -> torch.Tensor:
                model.feed_data(batch)
                model.optimize_parameters(1)
                return model.lq
            steps[name] = step
        plain_s, wbsr_s = interleaved_medians([steps['SRModel'], steps['WBSRModel']], device, args.repeats)
    net = wbsr.supernet
    trained = [net.subnets[index] for index, _, _ in wbsr.subnet_sampling.plan(1, 0, len(net.subnets))]
    flops = sum(net.flops(s) for s in trained) / net.flops()
    print(f'device={device} threads={torch.get_num_threads()} batch {args.batch} x 3x32x32 -> 128, MSRResNet x4')
    print(f'sandwich at the timed iteration: {trained}, {flops:.2f} x the full network\'s FLOPs')
    print(f'SRModel (full network) {plain_s:.3f} s/step   WBSRModel (sandwich of 3) {wbsr_s:.3f} s/step   '
          f'ratio {wbsr_s / plain_s:.2f}')


if __name__ == '__main__':
    main()
