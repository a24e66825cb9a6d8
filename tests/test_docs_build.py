"""docs/build.py's notebook execution: outputs saved and cleaned, drift warned about, errors and huge outputs refused."""
import importlib.util, json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location('docs_build', ROOT/'docs'/'build.py')
build = importlib.util.module_from_spec(spec); spec.loader.exec_module(build)


def _nb(path: Path, *cells):
    nb = nbformat.v4.new_notebook()
    for src, outputs in cells:
        c = nbformat.v4.new_code_cell(src)
        c.outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells.append(c)
    nbformat.write(nb, path)
    return path


def test_output_text_masks_volatile_parts():
    outs = [dict(output_type='stream', name='stdout', text='loaded in 1.3 s at 0x7f3a2b1c9d10  \n'),
            dict(output_type='execute_result', data={'text/plain': '42'}, metadata={}, execution_count=3)]
    assert build.output_text(outs) == 'loaded in <time> at 0x…\n42'
    assert build.output_text([dict(output_type='display_data', data={'image/png': 'iVBOR', 'text/plain': '<Figure>'},
                                   metadata={})]) == '<figure>'


def test_execute_saves_outputs_seeded_and_warns_on_drift(tmp_path):
    src = _nb(tmp_path/'a.ipynb',
              ("print(1 + 1)", [dict(output_type='stream', name='stdout', text='3\n')]),      # stale: the code prints 2
              ("import random; random.random()", []),
              ("#| eval: false\nraise SystemExit('never run')", []))
    out = tmp_path/'out'/'a.ipynb'
    r = build.execute(src, out)
    assert r['ok'], r
    assert len([w for w in r['warnings'] if 'no longer matches' in w]) == 1 and '-3' in r['warnings'][0] and '+2' in r['warnings'][0]
    nb = json.loads(out.read_text())
    cells = nb['cells']
    assert ''.join(cells[0]['outputs'][0]['text']) == '2\n'
    assert ''.join(cells[1]['outputs'][0]['data']['text/plain']) == '0.8444218515250481'        # random.seed(0) before the first cell
    assert cells[2]['outputs'] == [] and 'never run' in ''.join(cells[2]['source'])
    assert all(c['execution_count'] is None for c in cells)                            # nbdev_clean ran
    assert len(cells) == 3                                                             # the set-up cell is not saved
    r2 = build.execute(out, tmp_path/'out2.ipynb')                                     # outputs now match: no warning
    assert r2['ok'] and not r2['warnings'], r2


def test_execute_refuses_errors_and_huge_outputs(tmp_path):
    bad = _nb(tmp_path/'bad.ipynb', ("x = 1", []), ("1/0", []), ("print('x' * 2_000_000)", []))
    r = build.execute(bad, tmp_path/'o'/'bad.ipynb')
    assert not r['ok'] and not (tmp_path/'o'/'bad.ipynb').exists()
    assert any('ZeroDivisionError' in p and 'cell 1' in p for p in r['problems']), r['problems']
    assert any('MB' in p and 'cell 2' in p for p in r['problems']), r['problems']


def test_module_notebooks_in_nbdev_order():
    names = [p.name for p in build.module_notebooks()]
    assert names == sorted(names) and '00_core.ipynb' in names and not any('experiments' in n for n in names)
    with pytest.raises(SystemExit): build.module_notebooks(['no_such_notebook'])
