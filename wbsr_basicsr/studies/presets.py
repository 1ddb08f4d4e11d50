"""Network and schedule sizes of the training studies, in one place.

``cpu``: a reduced x4 MSRResNet sized for 2 CPU cores (num_feat 32, 8 blocks, supernet widths
18/26/32 x depths 2/4/8, GT 96, batch 8, 2,000 iterations, Adam 5e-4 with cosine decay), tested
on Set5 and Set14; ``paper``: the shipped option files' sizes (num_feat 64, 16 blocks,
36/52/64 x 4/8/16, GT 128, batch 16, 201,300 iterations, Adam 2e-4) on one GPU, tested on
Test2K and Test4K.
"""
from typing import Dict

PRESETS: Dict[str, Dict] = {
    'cpu': dict(iters=2000, lr=5e-4, gt_size=96, batch=8, num_feat=32, num_block=8, widths=[18, 26, 32],
                depths=[2, 4, 8], num_gpu=0, sets=['Set5', 'Set14']),
    'paper': dict(iters=201300, lr=2e-4, gt_size=128, batch=16, num_feat=64, num_block=16, widths=[36, 52, 64],
                  depths=[4, 8, 16], num_gpu=1, sets=['Test2K', 'Test4K']),
}
