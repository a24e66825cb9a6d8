"""One statistics layer: `culnig compare` and the study's `paired_table` give the same interval for the same two evaluations."""
import os
from pathlib import Path
import numpy as np
import pandas as pd
import pytest

os.environ.setdefault('CULNIG_PROGRESS', '0')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
if not os.environ.get('CULNIG_DATA'):
    shared = Path(__file__).resolve().parent.parent.parent/'shared'/'data'
    if shared.exists(): os.environ['CULNIG_DATA'] = str(shared)

from culnig.evaluation import load_results, main_evaluate, main_compare
from culnig.neuronset import NeuronSet
from culnig.stats import METRICS, METRIC_COLUMNS, paired_table
from culnig.study import long_items

ARGS = ['--datasets', 'blend', 'countryrc', 'qnli', '--limit-per-country', '6', '--countries', 'USA', 'China',
        '--n-boot', '300', '--quiet']

@pytest.fixture(scope='module')
def runs(tiny_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp('stats')
    top = [dict(module_name='mlp.gate_proj', layer_idx=l, neuron_idx=i, attribute_score=1.0) for l in (0, 1) for i in range(48)]
    NeuronSet(model_name='tiny-llama', kind='general', top_neurons=top).save(root/'general.json')
    assert main_evaluate(['--model', str(tiny_dir), *ARGS, '--out', str(root/'base')]) == 0
    assert main_evaluate(['--model', str(tiny_dir), *ARGS, '--neurons', str(root/'general.json'), '--out', str(root/'sup')]) == 0
    return root

def test_compare_and_report_give_the_same_interval(runs, capsys):
    assert main_compare([str(runs/'base'), str(runs/'sup'), '--n-boot', '300', '--out', str(runs/'cmp.csv')]) == 0
    cmp = pd.read_csv(runs/'cmp.csv')
    items = pd.concat([long_items(load_results(runs/'base').items, 'baseline'),
                       long_items(load_results(runs/'sup').items, 'culture-general')])
    pt = paired_table(items, n_boot=300, groups=False).set_index(['dataset', 'metric'])
    short = {name: METRIC_COLUMNS[col] for name, col in METRICS.items() if col in METRIC_COLUMNS}
    checked, moved = 0, 0
    for _, r in cmp.iterrows():
        if r['metric'] not in short or (r['dataset'], short[r['metric']]) not in pt.index: continue
        p = pt.loc[(r['dataset'], short[r['metric']])]
        assert p['n'] == r['n']
        np.testing.assert_allclose([p['delta'], p['ci_low'], p['ci_high']], [100 * r['diff'], 100 * r['ci_low'], 100 * r['ci_high']],
                                   rtol=0, atol=1e-9, err_msg=f"{r['dataset']} {r['metric']}")
        checked += 1; moved += r['ci_high'] > r['ci_low']
    assert checked >= 6                           # 3 datasets x 2 metrics (paper and option-restricted accuracy)
    assert moved >= 1, 'every interval was a point: the suppressed model changed no answer, the test would prove nothing'

def test_nothing_below_the_runner_imports_it():
    "culnig.report (the papermill runner) sits on top: no other module but the CLI imports it."
    import ast, culnig
    offenders = []
    for f in sorted(Path(culnig.__file__).parent.glob('*.py')):
        if f.stem in ('report', 'cli', '_modidx'): continue
        for n in ast.walk(ast.parse(f.read_text(encoding='utf-8'))):
            if isinstance(n, ast.ImportFrom) and (n.module in ('culnig.report', 'report') or
                                                 (n.module == 'culnig' and any(a.name == 'report' for a in n.names))):
                offenders.append(f"{f.name}:{n.lineno}")
            if isinstance(n, ast.Import) and any(a.name == 'culnig.report' for a in n.names): offenders.append(f"{f.name}:{n.lineno}")
    assert not offenders, offenders
