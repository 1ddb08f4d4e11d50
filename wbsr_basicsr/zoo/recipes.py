"""How each shipped checkpoint is trained: the recipe ``scripts/train_weights.py`` rebuilds it from.

Every shipped name is a WBSR MSRResNet supernet trained with the shipped recipe (supernet,
sandwich schedule, HES, L1; docs/training.md) on the 291 photos (T91 + BSD200) prepared as a
miniature DIV2K, sized for 2 CPU cores (docs/models.md).
"""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Tuple

TRAINING_DATA = '291 photos (T91 + BSD200), bicubic LR'


@dataclass(frozen=True)
class WeightRecipe:
    """One shipped checkpoint's network, data and schedule."""

    name: str
    scale: int
    num_feat: int = 48
    num_block: int = 12
    widths: Tuple[int, ...] = (32, 40, 48)
    depths: Tuple[int, ...] = (3, 6, 12)
    gt_size: int = 96
    batch: int = 8
    iters: int = 4500
    lr: float = 5e-4
    seed: int = 0

    def to_dict(self) -> Dict:
        return dict(asdict(self), widths=list(self.widths), depths=list(self.depths), data=TRAINING_DATA)

    def network(self) -> Dict:
        return dict(type='WBSRMSRResNet', num_in_ch=3, num_out_ch=3, num_feat=self.num_feat,
                    num_block=self.num_block, upscale=self.scale, widths=list(self.widths), depths=list(self.depths))

    def train_options(self, data: Path) -> Dict:
        """BasicSR options that train this recipe on ``data`` (``prepare_div2k.py``'s output)."""
        scale = self.scale
        dataset = dict(name='train291', type='HESPairedImageDataset',
                       dataroot_gt=str(data / 'DIV2K_train_HR_sub.lmdb'),
                       dataroot_lq=str(data / f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'),
                       io_backend=dict(type='lmdb'), gt_size=self.gt_size, use_hflip=True, use_rot=True,
                       num_worker_per_gpu=1, batch_size_per_gpu=self.batch, dataset_enlarge_ratio=100,
                       prefetch_mode=None,
                       hes=dict(stats_file=str(data / f'hes_stats_X{scale}.npz'), num_classes=10, delta=0.9,
                                start_frac=0.7))
        train = dict(ema_decay=0, optim_g=dict(type='Adam', lr=self.lr, weight_decay=0, betas=[0.9, 0.999]),
                     scheduler=dict(type='CosineAnnealingRestartLR', periods=[self.iters], restart_weights=[1],
                                    eta_min=1e-7),
                     total_iter=self.iters, warmup_iter=-1, subnet_sampling=dict(strategy='sandwich', num_random=1),
                     pixel_opt=dict(type='L1Loss', loss_weight=1.0, reduction='mean'))
        return dict(name=self.name, model_type='WBSRModel', scale=scale, num_gpu=0, manual_seed=self.seed,
                    datasets=dict(train=dataset), network_g=self.network(),
                    routing=dict(stats_file=str(data / f'routing_stats_X{scale}.npz'), num_classes=10),
                    path=dict(pretrain_network_g=None, strict_load_g=True, resume_state=None), train=train,
                    logger=dict(print_freq=100, save_checkpoint_freq=500, use_tb_logger=False,
                                wandb=dict(project=None, resume_id=None)))


RECIPES: Dict[str, WeightRecipe] = {recipe.name: recipe for recipe in (
    WeightRecipe('WBSR_MSRResNet_x4_291', scale=4, iters=4500),
    WeightRecipe('WBSR_MSRResNet_x2_291', scale=2, iters=2600),
)}
