"""Checks of option blocks: a typo in a user's option is an error, not a silent default."""
from typing import Iterable, Mapping


def check_keys(section: str, given: Mapping, known: Iterable[str]) -> None:
    """``ValueError`` naming ``section``, the unknown keys of ``given`` and the known ones."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f'{section}: unknown option{"s" if len(unknown) > 1 else ""} {", ".join(unknown)}; '
                         f'the known ones are {", ".join(known)}.')
