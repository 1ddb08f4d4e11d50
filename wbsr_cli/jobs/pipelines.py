"""The work of ``wbsr-train`` and ``wbsr-test`` (arguments and usage: ``wbsr_cli/pipelines.py``)."""
from typing import Callable, Dict, Tuple

import wbsr_basicsr  # noqa: F401  (compatibility fixes, registers the WBSR components)
from basicsr.test import test_pipeline
from basicsr.train import train_pipeline
from wbsr_cli.jobs.errors import one_line_errors

PIPELINES: Dict[str, Tuple[Callable[[str], None], str]] = {
    'train': (train_pipeline, 'the saved checkpoints and states are complete; --auto_resume continues from the last.'),
    'test': (test_pipeline, 'the images and tables written so far are complete.'),
}
"""Each stage's BasicSR pipeline and what a Ctrl-C leaves behind."""


def run(stage: str, root: str, name: str) -> int:
    """BasicSR's ``stage`` pipeline under ``root``; errors are one line starting with ``name``."""
    pipeline, interrupted = PIPELINES[stage]
    return one_line_errors(name, lambda: pipeline(root), interrupted)
