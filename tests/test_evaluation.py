"""`culnig evaluate` and `culnig compare` end to end on a tiny model saved as a local Hugging Face folder."""
import json, os
from pathlib import Path
import pandas as pd
import pytest

os.environ.setdefault('CULNIG_PROGRESS', '0')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
if not os.environ.get('CULNIG_DATA'):
    shared = Path(__file__).resolve().parent.parent.parent/'shared'/'data'
    if shared.exists(): os.environ['CULNIG_DATA'] = str(shared)

from culnig.cli import main as cli
from culnig.core import sha256_file
from culnig.evaluation import load_results, main_evaluate, main_compare
from culnig.neuronset import NeuronSet

DATASETS = ['commonsenseqa', 'countryrc', 'blend_saq']
ARGS = ['--datasets', *DATASETS, '--limit-per-country', '1', '--countries', 'USA', 'China', '--max-new-tokens', '4',
        '--n-boot', '100', '--quiet']

@pytest.fixture(scope='module')
def neuron_file(tmp_path_factory):
    p = tmp_path_factory.mktemp('sets')/'general.json'
    top = [dict(module_name='mlp.gate_proj', layer_idx=l, neuron_idx=i, attribute_score=1.0) for l in (0, 1) for i in range(0, 48, 3)]
    NeuronSet(model_name='tiny-llama', kind='general', top_neurons=top).save(p)
    return p

@pytest.fixture(scope='module')
def runs(tiny_dir, neuron_file, tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    assert main_evaluate(['--model', str(tiny_dir), *ARGS, '--out', str(root/'base')]) == 0
    assert main_evaluate(['--model', str(tiny_dir), *ARGS, '--neurons', str(neuron_file), '--out', str(root/'sup')]) == 0
    assert main_evaluate(['--model', str(tiny_dir), *ARGS, '--neurons', str(neuron_file), '--operation', 'enhance',
                          '--out', str(root/'enh')]) == 0
    return root

def test_outputs_and_provenance(runs, neuron_file):
    for name in ('base', 'sup', 'enh'):
        for f in ('items.parquet', 'summary.csv', 'meta.json'): assert (runs/name/f).exists()
    base, sup, enh = (load_results(runs/n) for n in ('base', 'sup', 'enh'))
    assert set(base.items.dataset) == set(DATASETS)
    assert set(base.items[base.items.dataset == 'countryrc'].country) == {'USA', 'China'}
    assert base.meta['operation'] is None and sup.meta['operation'] == 'suppress' and enh.meta['operation'] == 'enhance'
    assert enh.meta['factor'] == 2.0
    assert sup.meta['neuron_sets'][0]['sha256'] == sha256_file(neuron_file) and sup.meta['n_neurons'] == 32
    assert base.meta['model']['path'].endswith('tiny-llama') and base.meta['culnig_version']
    assert any(k.startswith('countryrc/') for k in base.meta['data_hashes'])
    assert set(base.meta['datasets']) == set(DATASETS) and all(v['prompt_sha256'] for v in base.meta['datasets'].values())
    s = pd.read_csv(runs/'base'/'summary.csv')
    assert {'accuracy_paper', 'accuracy_restricted', 'accuracy_saq'} <= set(s.metric)
    pd.testing.assert_frame_equal(base.items[['dataset', 'id', 'country']], sup.items[['dataset', 'id', 'country']])

def test_refuses_to_overwrite(runs, tiny_dir, capsys):
    assert cli(['evaluate', '--model', str(tiny_dir), *ARGS, '--out', str(runs/'base')]) == 2
    assert '--overwrite' in capsys.readouterr().err

def test_compare_prints_paired_differences(runs, capsys):
    assert cli(['compare', str(runs/'base'), str(runs/'sup'), '--n-boot', '100']) == 0
    out = capsys.readouterr().out
    assert 'accuracy_paper' in out and 'accuracy_restricted' in out and 'mcnemar_exact' in out
    assert main_compare([str(runs/'base'), str(runs/'base'), '--by', 'country', '--out', str(runs/'self.csv')]) == 0
    c = pd.read_csv(runs/'self.csv')
    assert (c['diff'] == 0).all() and set(c.country.dropna()) >= {'all', 'USA', 'China'}

def test_bad_neuron_file_is_a_clear_error(tiny_dir, tmp_path, capsys):
    p = tmp_path/'big.json'
    NeuronSet(kind='general', top_neurons=[dict(module_name='mlp.gate_proj', layer_idx=7, neuron_idx=0, attribute_score=1.0)]).save(p)
    assert cli(['evaluate', '--model', str(tiny_dir), *ARGS, '--neurons', str(p), '--out', str(tmp_path/'x')]) == 2
    assert 'layer 7' in capsys.readouterr().err
    assert cli(['evaluate', '--model', str(tiny_dir), *ARGS, '--neurons', str(tmp_path/'none.json'), '--out', str(tmp_path/'y')]) == 2
    assert 'culnig select' in capsys.readouterr().err

def test_missing_dataset_files(tiny_dir, tmp_path, capsys):
    args = ['evaluate', '--model', str(tiny_dir), '--datasets', 'worldvaluesbench', 'commonsenseqa', '--limit-per-country', '1', '--quiet']
    assert cli([*args, '--out', str(tmp_path/'a')]) == 2
    assert 'worldvaluesbench' in capsys.readouterr().err
    assert cli([*args, '--skip-missing', '--out', str(tmp_path/'b')]) == 0
    r = load_results(tmp_path/'b')
    assert set(r.items.dataset) == {'commonsenseqa'} and r.meta['skipped'] == ['worldvaluesbench']

def test_prompts_file(tiny_dir, tmp_path):
    from culnig.data import build_prompts, write_jsonl
    from culnig.models import load_tokenizer
    recs = build_prompts('countryrc', load_tokenizer(str(tiny_dir)), countries=['USA'], limit_per_country=1)
    write_jsonl(recs, tmp_path/'p.jsonl')
    assert main_evaluate(['--model', str(tiny_dir), '--prompts', str(tmp_path/'p.jsonl'), '--split', 'heldout', '--quiet',
                          '--out', str(tmp_path/'r')]) == 0
    r = load_results(tmp_path/'r')
    assert len(r.items) == sum(x['split'] == 'heldout' for x in recs) > 0 and set(r.items.split) == {'heldout'}
    assert r.meta['data_hashes'] == {'p.jsonl': sha256_file(tmp_path/'p.jsonl')}
