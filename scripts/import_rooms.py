"""The repository's import drawing: which package imports which, and any circle between them.

    python scripts/import_rooms.py [ROOT]     # rooms, arrows, circles (exit status 1 if there is one)

A room is a sub-package of ``wbsr_basicsr`` (or ``wbsr_cli``), or one of the package's top-level
modules (``compat.py``, ``train.py`` ...); an arrow is any import between two rooms, at module level
or inside a function (docs/development.md, "Layout", draws the floors they must keep to).
"""
import ast
import sys
from pathlib import Path
from typing import Dict, List, Set

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ('wbsr_basicsr', 'wbsr_cli')


def room_of(module: str, root: Path = REPO) -> str:
    """The room of a dotted module name: its package, or itself for a top-level module of the package."""
    parts = module.split('.')
    if root.joinpath(*parts).is_dir() or (parts[0] == 'wbsr_basicsr' and len(parts) == 2):
        return module
    return '.'.join(parts[:-1])


def imported(node: ast.AST, module: str, is_package: bool) -> List[str]:
    """The dotted names an import statement ``node`` of ``module`` names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split('.') if is_package else module.split('.')[:-1]
        base = base[:len(base) - node.level + 1]
        name = '.'.join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ''
    return [name] + [f'{name}.{alias.name}' for alias in node.names]


def resolve(name: str, root: Path = REPO) -> str:
    """The longest prefix of ``name`` that is a module or package of the repository ('' if none)."""
    parts = name.split('.')
    for end in range(len(parts), 0, -1):
        path = root.joinpath(*parts[:end])
        if path.is_dir() or path.with_suffix('.py').is_file():
            return '.'.join(parts[:end])
    return ''


def arrows(root: Path = REPO) -> Dict[str, Set[str]]:
    """Every room and the rooms it imports."""
    graph: Dict[str, Set[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob('*.py')):
            parts = path.relative_to(root).with_suffix('').parts
            is_package = parts[-1] == '__init__'
            module = '.'.join(parts[:-1] if is_package else parts)
            source = room_of(module, root)
            graph.setdefault(source, set())
            for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
                for name in imported(node, module, is_package):
                    target = resolve(name, root) if name.startswith(PACKAGES) else ''
                    if target and room_of(target, root) != source:
                        graph[source].add(room_of(target, root))
    return graph


def circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One circle through each room that lies on one (depth-first search), as lists of rooms."""
    found, state = [], {}

    def visit(room: str, path: List[str]) -> None:
        state[room] = 'open'
        for target in sorted(graph.get(room, ())):
            if state.get(target) == 'open':
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[room] = 'done'

    for room in sorted(graph):
        if room not in state:
            visit(room, [room])
    return found


def main(root: Path = REPO) -> int:
    graph = arrows(root)
    lines = sum(len(path.read_text(encoding='utf-8').splitlines()) for package in PACKAGES
                for path in (root / package).rglob('*.py'))
    print(f'{len(graph)} rooms, {sum(map(len, graph.values()))} arrows, {lines} lines')
    for room in sorted(graph):
        print(f'  {room} -> {", ".join(sorted(graph[room])) or "-"}')
    found = circles(graph)
    print(f'{len(found)} circle(s)' + ''.join(f'\n  {" -> ".join(circle)}' for circle in found))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO))
