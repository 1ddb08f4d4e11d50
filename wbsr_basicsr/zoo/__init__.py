"""The checkpoints shipped inside the package, by name (``-n NAME``, ``--list-models``; docs/models.md).

Each is a calibrated WBSR supernet in ``weights/<name>.pth``; ``weights/models.json`` records, per
name, its recipe (:mod:`.recipes`), what it was trained on, its size and the PSNR measured with
``test.py``. ``scripts/train_weights.py`` writes both.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

PACKAGE = Path(__file__).resolve().parents[1]
WEIGHTS = Path(__file__).resolve().parent / 'weights'
INDEX = WEIGHTS / 'models.json'
DEFAULT_MODEL = 'WBSR_MSRResNet_x4_291'


@dataclass(frozen=True)
class ShippedModel:
    """One shipped checkpoint as ``models.json`` describes it."""

    name: str
    scale: int
    params: int
    gflops_per_lr_mp: float  # the full network's GFLOPs per LR megapixel
    trained_on: str
    recipe: Dict
    psnr: Dict[str, Dict[str, float]]  # set -> row -> PSNR (Y, or RGB where the row says so)
    time_share: Dict[str, float]  # set -> measured seconds of --target-time 0.65 over the full network's

    @property
    def path(self) -> Path:
        return WEIGHTS / f'{self.name}.pth'


def shipped_models() -> Dict[str, ShippedModel]:
    """Every shipped model, by name (none when ``models.json`` is absent)."""
    if not INDEX.is_file():
        return {}
    try:
        entries = json.loads(INDEX.read_text(encoding='utf-8'))
        return {entry['name']: ShippedModel(**entry) for entry in entries}
    except (ValueError, TypeError, KeyError) as error:  # not JSON, or not the entries models.json holds
        raise ValueError(f'{INDEX}: damaged ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else "?"}'
                         '); reinstall the package.') from None


def model_path(name: Optional[str]) -> str:
    """The checkpoint file of the shipped model ``name`` (None: :data:`DEFAULT_MODEL`); ``ValueError``
    naming the shipped ones otherwise."""
    name = name or DEFAULT_MODEL
    models = shipped_models()
    if name not in models:
        known = ', '.join(models) or 'none in this installation'
        raise ValueError(f'-n {name}: no shipped model of that name (shipped: {known}); give a checkpoint with '
                         '--model.')
    if not models[name].path.is_file():
        raise ValueError(f'{models[name].path}: the shipped model {name} is missing from this installation; '
                         'reinstall the package.')
    return str(models[name].path)


def check_outside_package(path: str, option: str) -> None:
    """``ValueError`` if the command would write ``path`` (as ``option`` says) inside the installed package:
    its shipped models and code are never rewritten by a command."""
    if PACKAGE in Path(path).resolve().parents:
        raise ValueError(f'{option} would write {path}, inside the installed package ({PACKAGE}), which commands '
                         'never rewrite; give --output with a file of yours.')


def models_table(models: Optional[Dict[str, ShippedModel]] = None) -> str:
    """The shipped models as the table ``--list-models`` prints."""
    models = shipped_models() if models is None else models
    if not models:
        return 'No shipped models in this installation.'
    lines = []
    for model in models.values():
        psnr = '; '.join(f'{dataset} ' + ', '.join(f'{row} {value:.2f}' for row, value in rows.items())
                         for dataset, rows in model.psnr.items())
        shares = ', '.join(f'{dataset} {share:.2f}' for dataset, share in model.time_share.items())
        lines.append(f'{model.name}{" (default)" if model.name == DEFAULT_MODEL else ""}\n'
                     f'  x{model.scale}, {model.params / 1e6:.2f} M parameters, {model.gflops_per_lr_mp:.1f} GFLOPs per '
                     f'LR megapixel (full network), {model.path.stat().st_size / 2 ** 20:.1f} MiB\n'
                     f'  trained on {model.trained_on}: {model.recipe.get("iters")} iterations on 2 CPU cores\n'
                     f'  PSNR dB (Y unless RGB, border = scale): {psnr}\n'
                     f'  --target-time 0.65 measured at {shares} of the full network\'s time (2-core CPU)')
    return '\n'.join(lines)


__all__ = ['DEFAULT_MODEL', 'ShippedModel', 'check_outside_package', 'model_path', 'models_table',
           'shipped_models']
