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
    try:
        options = yaml.safe_load(Path(option_file).read_text())
    except OSError as error:
        raise ValueError(f'{option_file}: cannot be read ({error.strerror or error}).') from None
    except yaml.YAMLError as error:
        raise ValueError(f'{option_file}: not valid YAML ({str(error).splitlines()[0]}).') from None
    if not isinstance(options, dict) or not isinstance(options.get('network_g'), dict):
        raise ValueError(f'{option_file}: no network_g section.')
    return options['network_g']
