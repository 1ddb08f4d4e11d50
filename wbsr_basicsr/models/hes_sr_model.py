"""BasicSR's SRModel plus logging of what Hierarchical Equalization Sampling delivered."""
from typing import Dict, Optional

import numpy as np

from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY


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
    """``SRModel`` trained on HES batches, logging the phase and class histogram (Sec. 4.1.1)."""

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        self._init_hes_logging(opt)

    def optimize_parameters(self, current_iter: int) -> None:
        super().optimize_parameters(current_iter)
        self._log_hes(current_iter)
