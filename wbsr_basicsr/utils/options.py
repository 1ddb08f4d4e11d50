"""Option files and blocks: a typo in a user's option is an error, not a silent default, and an option
file holds plain values only: it is read with YAML's safe loader, so a Python tag
(``!!python/object/apply:...``) is refused with one line naming the file and the line instead of run."""
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple, Type

import yaml

BaseLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
BaseDumper = getattr(yaml, 'CDumper', yaml.Dumper)


class OptionLoader(BaseLoader):
    """YAML's safe loader that keeps the keys' order (``OrderedDict``), as BasicSR's loader does."""


OptionLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                             lambda loader, node: OrderedDict(loader.construct_pairs(node)))


def safe_ordered_yaml() -> Tuple[Type[yaml.SafeLoader], Type[yaml.Dumper]]:
    """BasicSR's ``ordered_yaml()``, with the safe loader (``wbsr_basicsr.compat`` puts it in BasicSR's place)."""
    BaseDumper.add_representer(OrderedDict, lambda dumper, data: dumper.represent_dict(data.items()))
    return OptionLoader, BaseDumper


def read_option_file(option_file: str) -> Dict:
    """The mapping an option file holds, its keys in order; one-line ``ValueError`` naming the file (and
    the line) for a file that cannot be read, is not YAML, holds a Python tag, or is not a mapping."""
    try:
        text = Path(option_file).read_text(encoding='utf-8')
    except OSError as error:
        raise ValueError(f'{option_file}: cannot be read ({error.strerror or error}).') from None
    except UnicodeDecodeError:
        raise ValueError(f'{option_file}: not a text file (an option file is YAML in UTF-8).') from None
    options = load_yaml(text, option_file)
    if not isinstance(options, Mapping):
        raise ValueError(f'{option_file}: not an option file: expected a mapping of options (name: ..., '
                         f'model_type: ..., ...), found {type(options).__name__}.')
    return options


def load_yaml(text: str, where: str) -> object:
    """What the YAML ``text`` holds, read safely (mappings in order); one-line ``ValueError`` starting with
    ``where`` (a file, an option) and the line for text that is not YAML or holds a Python tag."""
    try:
        return yaml.load(text, Loader=OptionLoader)
    except yaml.constructor.ConstructorError as error:
        raise ValueError(f'{where}{_line(error)}: the tag {_tag(error)} is not allowed; options are plain values '
                         '(text, numbers, lists, mappings), never Python objects.') from None
    except yaml.YAMLError as error:
        raise ValueError(f'{where}{_line(error)}: not valid YAML ({_problem(error)}).') from None


def _line(error: yaml.YAMLError) -> str:
    mark = getattr(error, 'problem_mark', None) or getattr(error, 'context_mark', None)
    return f', line {mark.line + 1}' if mark is not None else ''


def _problem(error: yaml.YAMLError) -> str:
    return getattr(error, 'problem', None) or str(error).splitlines()[0]


def _tag(error: yaml.constructor.ConstructorError) -> str:
    words = (error.problem or '').split("'")
    return words[1].replace('tag:yaml.org,2002:', '!!') if len(words) > 2 else 'there'


def check_keys(section: str, given: Mapping, known: Iterable[str]) -> None:
    """``ValueError`` naming ``section``, the unknown keys of ``given`` and the known ones."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f'{section}: unknown option{"s" if len(unknown) > 1 else ""} {", ".join(unknown)}; '
                         f'the known ones are {", ".join(known)}.')


def renamed_keys(section: str, given: Mapping, renames: Mapping[str, str]) -> Dict:
    """``given`` with each key renamed ``old -> new`` in ``renames`` taking its new name, a
    ``FutureWarning`` naming ``section`` for each old name used; ``ValueError`` if both names are given."""
    given = dict(given)
    for old, new in renames.items():
        if old in given:
            if new in given:
                raise ValueError(f'{section}: {old!r} is the old name of {new!r}; give only {new!r}.')
            warnings.warn(f'{section}: the option {old!r} is now called {new!r}; the old name will stop working in a '
                          'later release.', FutureWarning, stacklevel=3)
            given[new] = given.pop(old)
    return given


def network_options(option_file: Optional[str]) -> Optional[Dict]:
    """The ``network_g`` section of a BasicSR option file (None without a file), for the scripts
    that build a network from a checkpoint that does not record it."""
    if option_file is None:
        return None
    options = read_option_file(option_file)
    if not isinstance(options.get('network_g'), Mapping):
        raise ValueError(f'{option_file}: no network_g section.')
    return dict(options['network_g'])
