"""Option files and blocks: a typo in a user's option is an error, not a silent default."""
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional

import yaml


def check_keys(section: str, given: Mapping, known: Iterable[str]) -> None:
    """``ValueError`` naming ``section``, the unknown keys of ``given`` and the known ones."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f'{section}: unknown option{"s" if len(unknown) > 1 else ""} {", ".join(unknown)}; '
                         f'the known ones are {", ".join(known)}.')


def network_options(option_file: Optional[str]) -> Optional[Dict]:
    """The ``network_g`` section of a BasicSR option file (None without a file), for the scripts
    that build a network from a checkpoint that does not record it."""
    if option_file is None:
        return None
    options = yaml.safe_load(Path(option_file).read_text())
    if not isinstance(options, dict) or 'network_g' not in options:
        raise ValueError(f'{option_file}: no network_g section.')
    return options['network_g']
