"""BasicSR's SRModel plus logging of what Hierarchical Equalization Sampling delivered."""
import functools
from typing import Callable, Dict, Optional

import numpy as np
from torch import Tensor

from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY

from wbsr_basicsr.training.sampler_hooks import sampler_hook


class HESLogging:
    """Mixin for models trained on ``HESPairedImageDataset``: at BasicSR's print frequency the
    log (console and tensorboard, grouped under ``hes/``) gets ``hes/class_level``, the share of
    class-level draws, and ``hes/class_<k>``, the class histogram of the patches drawn since the
    last print."""

    def _init_hes_logging(self, opt: dict) -> None:
        hes = (opt.get('datasets', {}).get('train') or {}).get('hes') or {}
        self._hes_num_classes: int = hes.get('num_classes', 10)
        self._hes_print_freq: int = opt.get('logger', {}).get('print_freq', 100)
        self._hes_batch: Optional[Dict[str, np.ndarray]] = None  # this batch's classes and phases, on the CPU
        self._hes_counts = np.zeros(self._hes_num_classes, dtype=np.int64)
        self._hes_class_level = [0, 0]  # class-level draws, all draws

    def feed_data(self, data: dict) -> None:
        """BasicSR's ``feed_data``; this batch's HES classes and phases are remembered for the log."""
        super().feed_data(data)
        if 'hes_class' in data:
            self._hes_batch = {'class': data['hes_class'].cpu().numpy(),
                               'class_level': data['hes_class_level'].cpu().numpy()}

    def _log_hes(self, current_iter: int) -> None:
        if self._hes_batch is None:
            return
        self._hes_counts += np.bincount(self._hes_batch['class'], minlength=self._hes_num_classes)
        self._hes_class_level[0] += int(self._hes_batch['class_level'].sum())
        self._hes_class_level[1] += len(self._hes_batch['class_level'])
        self.log_dict['hes/class_level'] = self._hes_class_level[0] / self._hes_class_level[1]
        total = self._hes_counts.sum()
        for k, count in enumerate(self._hes_counts):
            self.log_dict[f'hes/class_{k}'] = count / total
        if current_iter % self._hes_print_freq == 0:
            self._hes_counts[:] = 0
            self._hes_class_level = [0, 0]


@MODEL_REGISTRY.register()
class HESSRModel(HESLogging, SRModel):
    """``SRModel`` trained on the HES dataset, logging the phase and class histogram (Sec. 4.1.1),
    and giving the Table 3 samplers that train with the model's help what they need: each patch's
    loss weight (``sample_weight``), its training loss back (``sample_feedback``; L1 per patch), and
    the sampler's hook around every optimizer step (BSPA's parameter protection)."""

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        self._init_hes_logging(opt)
        block = (opt['datasets'].get('train') or {}).get('sampler') if self.is_train else None
        self.sampler_hook = sampler_hook(block, opt['train']['total_iter'])
        self._sample_weight: Optional[Tensor] = None
        self._sample_feedback: Optional[Callable[[np.ndarray], None]] = None

    def feed_data(self, data: dict) -> None:
        super().feed_data(data)
        weight = data.get('sample_weight')
        self._sample_weight = None if weight is None else weight.to(self.device)
        self._sample_feedback = data.get('sample_feedback')

    def optimize_parameters(self, current_iter: int) -> None:
        if self.sampler_hook:
            self.sampler_hook.before_step(self, current_iter)
        pixel_loss = self.cri_pix
        if self._sample_weight is not None and pixel_loss is not None:
            weight = self._sample_weight.view(-1, 1, 1, 1).expand(-1, 1, *self.gt.shape[-2:])
            self.cri_pix = functools.partial(pixel_loss, weight=weight)  # BasicSR losses: sum(w l) / sum(w)
        try:
            super().optimize_parameters(current_iter)
        finally:
            self.cri_pix = pixel_loss
        if self._sample_feedback is not None:
            self._sample_feedback((self.output.detach() - self.gt).abs().mean((1, 2, 3)).cpu().numpy())
        if self.sampler_hook:
            self.sampler_hook.after_step(self, current_iter)
        self._log_hes(current_iter)
