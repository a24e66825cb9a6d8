"""`culnig report`: the papermill runner (skips, reruns, failures, provenance) and a `tiny` run of every experiment notebook."""
import json, os, subprocess, sys
from pathlib import Path

import nbformat
import pytest

from culnig import report
from culnig.core import OutputExists, data_root

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO/'nbs'/'experiments'


def _nb(path: Path, body: str):
    "A two-cell experiment notebook: a `parameters` cell and `body`."
    params = ("model = 'm'\npreset = 'tiny'\ncountries = None\nresults = 'r'\nfigures = 'f'\ncountry = None\n")
    cells = [nbformat.v4.new_markdown_cell('# Dummy'), nbformat.v4.new_code_cell(params), nbformat.v4.new_code_cell(body)]
    cells[1].metadata['tags'] = ['parameters']
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))


OK = ("from culnig import study\n"
      "name = 'culture_specific_' + study.country_slug(country) if country else __STEP__\n"
      "(study.step_dir(results, name)/'out.txt').write_text(preset)\n"
      "import os; (study.step_dir(results, name)/'env.txt').write_text(os.environ.get('CULNIG_DATA', '') + '|' + os.environ.get('CULNIG_PROGRESS', ''))\n"
      "study.finish_step(results, name, study.get_preset(preset), model=model)\n")


@pytest.fixture
def dummy(tmp_path, monkeypatch):
    "Three dummy experiments (one per country) in a temporary notebooks folder."
    nbs = tmp_path/'nbs'; nbs.mkdir()
    for name in ('identify', 'culture_specific', 'methods', 'figures'):
        _nb(nbs/f'{name}.ipynb', OK.replace('__STEP__', repr(name)))
    monkeypatch.setattr(report, 'EXPERIMENTS', [report.Experiment('identify'),
                                                report.Experiment('culture_specific', deps=('identify',), per_country=True),
                                                report.Experiment('finetune', deps=('identify',), optional=True),
                                                report.Experiment('methods', deps=('identify',), optional=True, opt_in=True),
                                                report.Experiment('figures', deps=('identify', 'culture_specific', 'finetune'))])
    return tmp_path, nbs


def _run(tmp, nbs, **kw):
    return report.run_report('m', kw.pop('preset', 'tiny'), out=tmp/'reports', figures=tmp/'figures', notebooks=nbs,
                             progress=False, log=lambda *a: None, **kw)


def test_runner_skips_reruns_and_records(dummy):
    tmp, nbs = dummy
    done = _run(tmp, nbs)
    assert list(done) == ['identify', 'culture_specific_USA', 'culture_specific_China', 'figures']   # order; finetune absent
    assert all(isinstance(v, float) for v in done.values())
    mdir = tmp/'reports'/'m'
    for step in done:
        nb = nbformat.read(str(mdir/f'{step}.ipynb'), as_version=4)
        prov = nb.cells[1]
        assert 'culnig-provenance' in prov.metadata['tags'] and '| wall time |' in prov.source and '| preset | `tiny`' in prov.source
        assert (mdir/'results'/step/'out.txt').read_text() == 'tiny'
        # kernels run in the report folder but read the data root resolved by the runner, and show no progress bars
        assert (mdir/'results'/step/'env.txt').read_text() == f'{data_root()}|0'
        assert (mdir/'results'/'.steps'/f'{step}.json').exists()
    assert (mdir/'summary.md').exists() and '[identify](identify.ipynb)' in (mdir/'summary.md').read_text()
    # finished steps are skipped
    assert set(_run(tmp, nbs).values()) == {'skipped'}
    # rerunning identify only runs identify; the next plain run re-runs the steps that read it (stale)
    again = _run(tmp, nbs, rerun=True, steps=['identify'])
    assert list(again) == ['identify'] and isinstance(again['identify'], float)
    stale = _run(tmp, nbs)
    assert stale['identify'] == 'skipped' and all(isinstance(stale[s], float) for s in list(done)[1:])
    # only one country's step
    one = _run(tmp, nbs, rerun=True, steps=['culture_specific_China'])
    assert list(one) == ['culture_specific_China'] and isinstance(one['culture_specific_China'], float)
    # an opt-in step runs only when asked for
    assert 'methods' not in _run(tmp, nbs)
    with_m = _run(tmp, nbs, extras=['methods'])
    assert isinstance(with_m['methods'], float) and with_m['identify'] == 'skipped'
    assert list(_run(tmp, nbs, steps=['methods'], rerun=True)) == ['methods']
    # another preset in the same folder is refused without --rerun
    with pytest.raises(OutputExists, match='--rerun'):
        _run(tmp, nbs, preset='quick')


def test_runner_failure_names_notebook_and_cell(dummy):
    tmp, nbs = dummy
    _nb(nbs/'culture_specific.ipynb', "x = 1\nraise ValueError('broken on purpose')\n")
    with pytest.raises(report.ReportStepFailed) as e:
        _run(tmp, nbs)
    msg = str(e.value)
    assert "step 'culture_specific_USA' failed: notebook culture_specific.ipynb, cell" in msg
    assert 'ValueError: broken on purpose' in msg and 'x = 1' in msg
    out = tmp/'reports'/'m'/'culture_specific_USA.ipynb'
    prov = [c for c in nbformat.read(str(out), as_version=4).cells if 'culnig-provenance' in c.metadata.get('tags', [])]
    assert len(prov) == 1 and '(failed)' in prov[0].source
    assert not (tmp/'reports'/'m'/'results'/'.steps'/'culture_specific_USA.json').exists()
    assert (tmp/'reports'/'m'/'results'/'.steps'/'identify.json').exists()          # the finished step before it is kept


def test_cli_failure_is_one_clear_line(dummy, capsys, tiny_dir):
    tmp, nbs = dummy
    _nb(nbs/'identify.ipynb', "raise RuntimeError('nope')\n")
    from culnig.cli import main
    rc = main(['report', '--model', str(tiny_dir), '--preset', 'tiny', '--out', str(tmp/'reports'), '--figures', str(tmp/'figures'),
               '--notebooks', str(nbs), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 2 and "step 'identify' failed" in err and 'RuntimeError: nope' in err


def test_nbdev_clean_keeps_parameters_tags(tmp_path):
    "settings.ini allows the `tags` cell metadata: nbdev_clean must not strip papermill's `parameters` tag."
    nbs = sorted(EXPERIMENTS.glob('*.ipynb'))
    assert nbs, 'no experiment notebooks'
    for src in nbs:
        nb = nbformat.read(str(src), as_version=4)
        assert any('parameters' in c.metadata.get('tags', []) for c in nb.cells), f'{src.name} has no parameters cell'
    dst = tmp_path/'nbs'/'x.ipynb'; dst.parent.mkdir()
    dst.write_text(nbs[0].read_text())
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean'), '--fname', str(dst)], cwd=REPO, check=True)
    nb = nbformat.read(str(dst), as_version=4)
    assert any('parameters' in c.metadata.get('tags', []) for c in nb.cells)


def test_wheel_ships_the_experiment_notebooks(tmp_path):
    "A `pip install`ed culnig has no checkout: the wheel must carry every experiment notebook where experiments_dir() looks."
    import zipfile
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(REPO)],
                   check=True, cwd=tmp_path)
    whl, = tmp_path.glob('culnig-*.whl')
    names = zipfile.ZipFile(whl).namelist()
    shipped = sorted(Path(n).name for n in names if '/data/' + '/'.join(report.EXPERIMENTS_SHARE) + '/' in n)
    assert shipped == sorted(p.name for p in EXPERIMENTS.glob('*.ipynb')), shipped
    assert {e.name + '.ipynb' for e in report.EXPERIMENTS} <= set(shipped)


# what each step of a real report must leave behind (relative to results/<step>/), and the figures
EXPECTED = {
    'identify': ['scores/scores.json', 'scores/scores.safetensors', 'general.json', 'specific/USA.json', 'specific/China.json',
                 'random/seed0.json', 'random/seed1.json', 'general_layers.csv', 'set_sizes.csv', 'jaccard.csv', 'step.json'],
    'suppress_general': ['prompts.jsonl', 'items.parquet', 'accuracy.csv', 'paired.csv', 'versus_random.csv', 'step.json'],
    'culture_specific_USA': ['items.parquet', 'row.csv', 'overlap.csv', 'step.json'],
    'culture_specific_China': ['items.parquet', 'row.csv', 'overlap.csv', 'step.json'],
    'filtering_ablation': ['items.parquet', 'paired.csv', 'step.json'],
    'enhance': ['items.parquet', 'accuracy.csv', 'paired.csv', 'versus_random.csv', 'step.json'],
    'figures': ['step.json'],
}
FIGURES = ['fig1_layer_distribution', 'fig2_suppression', 'fig3_cross_culture_options', 'fig4_specific_sets',
           'fig5_filtering_ablation_options', 'fig6_enhancement_options']


def test_tiny_report_runs_every_notebook(tmp_path):
    "Every experiment notebook runs under papermill with the `tiny` preset on the default model, without an error output."
    import pandas as pd
    done = report.run_report('smollm2-135m-instruct', 'tiny', out=tmp_path/'reports', figures=tmp_path/'figures', progress=False)
    # the fine-tuning notebook (another issue) joins the report when it exists, before the figures
    optional = ['finetune'] if (EXPERIMENTS/'finetune.ipynb').exists() else []
    assert list(done) == list(EXPECTED)[:-1] + optional + ['figures']
    mdir, fdir = tmp_path/'reports'/'smollm2-135m-instruct', tmp_path/'figures'/'smollm2-135m-instruct'
    for step, files in {**EXPECTED, **{o: ['step.json'] for o in optional}}.items():
        nb = nbformat.read(str(mdir/f'{step}.ipynb'), as_version=4)
        errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
        assert not errors, f'{step}: {errors[0]["ename"]}: {errors[0]["evalue"]}'
        assert any('parameters' in c.metadata.get('tags', []) for c in nb.cells)
        assert any('culnig-provenance' in c.metadata.get('tags', []) for c in nb.cells)
        for f in files: assert (mdir/'results'/step/f).exists(), f'{step} did not write {f}'
    for f in FIGURES + (['fig7_finetune_options'] if optional else []):
        for ext in ('png', 'pdf'): assert (fdir/f'{f}.{ext}').stat().st_size > 1000, f'{f}.{ext}'
    # the tables hold what the figures and the summary need
    vr = pd.read_csv(mdir/'results'/'suppress_general'/'versus_random.csv')
    assert {'cultural (mean)', 'nlu (mean)'} <= set(vr['dataset']) and (vr['n_random'] == 2).all()
    rows = pd.concat(pd.read_csv(mdir/'results'/f'culture_specific_{c}'/'row.csv') for c in ('USA', 'China'))
    assert set(rows['suppressed']) == {'USA', 'China'} and set(rows['evaluated']) == {'USA', 'China'}
    summary = (mdir/'summary.md').read_text()
    for part in ('## Suppressing the culture-general neurons', '## Culture-specific neurons', '## Filtering ablation',
                 '## Enhancing', '[fig2_suppression]', '[identify](identify.ipynb)'):
        assert part in summary, part
    ident = json.loads((mdir/'results'/'identify'/'step.json').read_text())
    assert ident['model']['sha256'] and ident['preset']['name'] == 'tiny'
