"""The repository's import drawing keeps its floors: no circle between packages (docs/development.md,
"Layout"; ``scripts/import_rooms.py``)."""
from conftest import REPO, load_script

rooms = load_script('import_rooms', REPO / 'scripts' / 'import_rooms.py')


def test_no_package_imports_one_that_imports_it_back():
    graph = rooms.arrows()
    assert rooms.circles(graph) == []
    assert 'wbsr_basicsr.plans' not in graph['wbsr_basicsr.routing']  # the plan row lives with the planner
    assert graph['wbsr_basicsr.runtime'] <= {'wbsr_basicsr.archs', 'wbsr_basicsr.utils'}  # the runner is beneath


def test_a_circle_is_found_wherever_it_closes(tmp_path):
    for name, imports in (('a', 'from wbsr_basicsr.b import thing'), ('b', 'def f():\n    from ..a import other')):
        (tmp_path / 'wbsr_basicsr' / name).mkdir(parents=True)
        (tmp_path / 'wbsr_basicsr' / name / '__init__.py').write_text(imports + '\n')
    (tmp_path / 'wbsr_basicsr' / '__init__.py').write_text('')
    assert rooms.circles(rooms.arrows(tmp_path)) == [['wbsr_basicsr.a', 'wbsr_basicsr.b', 'wbsr_basicsr.a']]
