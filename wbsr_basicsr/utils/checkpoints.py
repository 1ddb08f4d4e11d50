"""Network files and training states in BasicSR's formats, written whole and read with clear errors.

- :func:`save_network` writes BasicSR's network file (``{param_key: state_dict}``) atomically;
  ``wbsr_basicsr.compat`` makes every BasicSR model use it. ``WBSRModel`` writes the same
  file plus its ``wbsr`` entry, which holds :func:`parameter_checksums`.
- :func:`save_training_state` writes BasicSR's resume state atomically; :func:`read_training_state`
  reads one without running any code it may hold.
- :func:`read_checkpoint` loads a network file or says in one line what is wrong with it;
  :func:`verify_checksums` finds damaged tensor bytes; :func:`read_entry` checks the entry a
  WBSR file carries (a supernet's ``wbsr``: :class:`wbsr_basicsr.inference.supernet_entry.SupernetEntry`;
  a classifier's ``classsr``).
"""
import collections
import hashlib
import os
import pickle
import re
import zipfile
from typing import Dict, List, Mapping, Optional, Union

import torch
from torch import Tensor, nn

from basicsr.utils.dist_util import master_only

from .atomic import write_atomically

NetworkFile = Dict[str, object]


def network_file(model, nets: Union[nn.Module, List[nn.Module]], param_keys: Union[str, List[str]]) -> NetworkFile:
    """BasicSR's network-file content: ``{param_key: state dict on the CPU}``, without ``module.`` prefixes."""
    nets = nets if isinstance(nets, list) else [nets]
    param_keys = param_keys if isinstance(param_keys, list) else [param_keys]
    if len(nets) != len(param_keys):
        raise ValueError(f'{len(nets)} networks but {len(param_keys)} parameter keys.')
    content: NetworkFile = {}
    for net, key in zip(nets, param_keys):
        state = model.get_bare_model(net).state_dict()
        content[key] = {name[7:] if name.startswith('module.') else name: value.cpu() for name, value in state.items()}
    return content


def write_network_file(opt: dict, net_label: str, current_iter: int, content: NetworkFile) -> None:
    """Write ``content`` to ``models/<net_label>_<iter, or latest for -1>.pth``, atomically."""
    label = 'latest' if current_iter == -1 else current_iter
    path = os.path.join(opt['path']['models'], f'{net_label}_{label}.pth')
    write_atomically(path, lambda tmp_path: torch.save(content, tmp_path))


@master_only
def save_network(model, net, net_label: str, current_iter: int, param_key: Union[str, List[str]] = 'params') -> None:
    """BasicSR's ``BaseModel.save_network``, written atomically."""
    write_network_file(model.opt, net_label, current_iter, network_file(model, net, param_key))


@master_only
def save_training_state(model, epoch: int, current_iter: int) -> None:
    """BasicSR's ``save_training_state`` (optimizers, schedulers, epoch, iteration), written atomically."""
    if current_iter == -1:
        return
    state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in model.optimizers],
             'schedulers': [s.state_dict() for s in model.schedulers]}
    path = os.path.join(model.opt['path']['training_states'], f'{current_iter}.state')
    write_atomically(path, lambda tmp_path: torch.save(state, tmp_path))


TRAINING_STATE_TYPES = (collections.Counter,)
"""What a BasicSR training state holds besides tensors, numbers, text, lists and dicts: the milestones of
its ``MultiStepRestartLR`` schedulers."""


class ForeignObjects(ValueError):
    """A file holds Python objects it should not (it could run code when loaded)."""


def read_training_state(path: str, device: torch.device) -> Dict:
    """A training state :func:`save_training_state` wrote, loaded onto ``device`` with ``weights_only``
    and only :data:`TRAINING_STATE_TYPES` allowed besides: :class:`ForeignObjects` for a state holding
    any other Python object (it is not loaded, so nothing in it runs), ``ValueError`` naming ``path``
    for a missing, truncated or damaged one."""
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such training state.')
    try:
        with torch.serialization.safe_globals(list(TRAINING_STATE_TYPES)):
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r'GLOBAL ([\w.]+)', str(error))
        if found is None:  # not a pickle at all
            raise ValueError(f'{path}: not a readable training state (truncated or damaged?).') from None
        raise ForeignObjects(f'{path}: holds Python objects a training state does not ({found[1]}); it is refused '
                             'and nothing in it was run.') from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f'{path}: not a readable training state (truncated or damaged?): {reason}.') from None
    if not isinstance(state, dict) or not isinstance(state.get('iter'), int):
        raise ValueError(f'{path}: not a training state of BasicSR (no iteration in it).')
    return state


def parameter_checksums(content: Mapping[str, object]) -> Dict[str, str]:
    """SHA-256 of every state dict in a network file (names and tensor bytes, in name order)."""
    return {key: state_checksum(value) for key, value in content.items() if _is_state_dict(value)}


def verify_checksums(path: str, content: Mapping[str, object], checksums: Mapping[str, str]) -> None:
    """``ValueError`` naming ``path`` if a state dict's bytes differ from the checksum saved with it."""
    for key, expected in checksums.items():
        if key in content and state_checksum(content[key]) != expected:
            raise ValueError(f"{path}: the parameters under '{key}' do not match the checksum saved with them: the "
                             'file is damaged (or was edited); use an intact copy. An option file can skip this '
                             'check with path.verify_checksum_g: false.')


def read_checkpoint(path: str) -> NetworkFile:
    """A network file's content, on the CPU; one-line ``ValueError`` naming ``path`` if it is missing,
    empty, truncated, or not a file of state dicts."""
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such network file.')
    if os.path.getsize(path) == 0:
        raise ValueError(f'{path}: the network file is empty (was its save killed?).')
    try:
        content = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f'{path}: holds Python objects besides tensors; it is not a network file of BasicSR or '
                         'WBSR, and is not loaded.') from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f'{path}: not a readable network file (truncated or damaged?): {reason}') from None
    if not isinstance(content, dict) or not any(_is_state_dict(value) for value in content.values()):
        raise ValueError(f'{path}: holds no network parameters (expected {{"params": state_dict, ...}}).')
    return content


def read_entry(path: str, content: NetworkFile, key: str, file_format: str, version: int,
               verify: bool = True) -> Optional[Dict]:
    """The ``key`` entry of a network file read from ``path`` (None if it has none), its format and
    version checked and, if ``verify``, the parameters against the checksums it holds."""
    entry = content.get(key)
    if entry is None:
        return None
    if entry.get('format') != file_format or entry.get('version') != version:
        raise ValueError(f"{path}: its '{key}' entry is not a {file_format!r} version {version}.")
    if verify:
        verify_checksums(path, content, entry.get('checksums') or {})
    return entry


def _is_state_dict(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, Tensor) for v in value.values())


def state_checksum(state: Mapping[str, Tensor]) -> str:
    """SHA-256 of a state dict's names and tensor bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
