"""Notebook cells a reader can follow (issue #15, item 8): one public definition per export cell, with prose right before it,
no export cell longer than a screen, and every command function short (parse -> check -> run -> print, each step named)."""
import ast, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_CELL, MAX_MAIN = 60, 30
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))


def _python(src: str) -> str:
    "A cell's source without IPython magics and shell lines."
    return '\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in src.splitlines())


def cell_problems(path: Path) -> list[str]:
    "What breaks the rules in one notebook: ['nbs/x.ipynb cell N: ...', ...]."
    out, cells = [], json.loads(path.read_text(encoding='utf-8'))['cells']
    name = f'{path.parent.name}/{path.name}'
    for i, c in enumerate(cells):
        src = ''.join(c['source'])
        if c['cell_type'] != 'code' or not src.lstrip().startswith('#| export'): continue
        tree = ast.parse(_python(src))
        public = [n.name for n in tree.body
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith('_')]
        if len(public) > 1: out.append(f'{name} cell {i}: {len(public)} public definitions in one export cell: {public}')
        lines = src.count('\n') + 1
        if lines > MAX_CELL: out.append(f'{name} cell {i}: an export cell of {lines} lines (at most {MAX_CELL})')
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and (n.name.startswith('main_') or n.name == 'main'):
                length = n.end_lineno - n.lineno + 1
                if length > MAX_MAIN: out.append(f'{name} cell {i}: command function {n.name} is {length} lines (at most {MAX_MAIN})')
        if public and (i == 0 or cells[i - 1]['cell_type'] != 'markdown'):
            out.append(f'{name} cell {i}: no prose (a markdown cell) right before the cell that defines {public[0]}')
    return out


def test_the_rules_catch_a_long_mixed_cell(tmp_path):
    "The checker itself: two public definitions, a long command function and a missing prose cell are each reported."
    body = '\n'.join(f'    x{k} = {k}' for k in range(31))
    src = f"#| export\ndef main_x(argv=None):\n{body}\n    return 0\n\ndef other(): pass\n"
    nb = dict(cells=[dict(cell_type='code', source=src.splitlines(keepends=True), metadata={}, outputs=[], execution_count=None)])
    p = tmp_path/'t.ipynb'; p.write_text(json.dumps(nb))
    found = cell_problems(p)
    assert [f.split(': ', 1)[1].split(' ')[0:3] for f in found] == [['2', 'public', 'definitions'], ['command', 'function', 'main_x'],
                                                                     ['no', 'prose', '(a']], found


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_a_reader_can_follow(path):
    bad = cell_problems(path)
    assert not bad, '\n'.join(bad)
