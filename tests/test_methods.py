"""The method comparison end to end: `nbs/experiments/methods.ipynb` with the `tiny` preset on a tiny random model."""
import os, json
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
NB = REPO/'nbs'/'experiments'/'methods.ipynb'

def test_methods_notebook_tiny(tiny_dir, tmp_path):
    pm = pytest.importorskip('papermill')
    from culnig.core import data_root
    if not (data_root()/'blend').exists(): pytest.skip('BLEnD data not under the data root (set CULNIG_DATA)')
    results, figures = tmp_path/'results', tmp_path/'figures'
    os.environ['CULNIG_PROGRESS'] = '0'
    pm.execute_notebook(str(NB), str(tmp_path/'methods.ipynb'), kernel_name='python3', language='python', progress_bar=False,
                        parameters=dict(model=str(tiny_dir), preset='tiny', results=str(results), figures=str(figures),
                                        budgets=[0.01, 0.03], budget=0.03, ig_steps=2))
    out = results/'methods'
    for f in ('cost.csv', 'jaccard.csv', 'items.parquet', 'paired.csv', 'headline.md', 'step.json'):
        assert (out/f).exists(), f
    for m in ('culnig', 'lape', 'actdiff', 'ig'):
        assert (out/f'scores_{m}'/'scores.json').exists()
        meta = json.loads((out/f'scores_{m}'/'scores.json').read_text())
        assert meta['params']['method']['name'] == m
        assert (out/'sets'/f'{m}_0.03.json').exists()
    for name in ('methods_overlap', 'methods_budget', 'methods_fixed_budget'):
        assert (figures/f'{name}.png').exists() and (figures/f'{name}.pdf').exists()
    import pandas as pd
    paired = pd.read_csv(out/'paired.csv')
    assert set(paired['condition']) >= {f'{m}@{b:g}' for m in ('culnig', 'lape', 'actdiff', 'ig', 'random') for b in (0.01, 0.03)}
