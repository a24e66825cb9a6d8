"""`culnig finetune` end to end on a tiny model saved as a local folder: results written, weights only when asked and never
into the repository, existing results never overwritten silently."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CULNIG = [str(Path(sys.executable).parent/'culnig')]
pytestmark = pytest.mark.skipif(not (Path(os.environ.get('CULNIG_DATA', ROOT/'data'))/'glue'/'qnli_dev.tsv').exists(),
                                reason='needs the benchmark files (CULNIG_DATA)')

def run(*args, env=None):
    e = {**os.environ, 'CULNIG_PROGRESS': '0', 'HF_HUB_OFFLINE': '1', **(env or {})}
    return subprocess.run([*CULNIG, *args], capture_output=True, text=True, env=e, timeout=900)

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A 4-layer tiny Llama saved as a Hugging Face folder, and a culture-general set rich in layers 1 and 2."
    from culnig.testing import tiny_model
    d = tmp_path_factory.mktemp('ft')
    model, tok = tiny_model('llama', num_hidden_layers=4)
    model.save_pretrained(d/'model'); tok.save_pretrained(d/'model')
    entries = [dict(module_name='mlp.gate_proj', layer_idx=l, neuron_idx=n, attribute_score=1.0)
               for l, k in ((1, 6), (2, 4), (3, 1)) for n in range(k)]
    (d/'general.json').write_text(json.dumps(dict(model_name='model', kind='general', top_neurons=entries)))
    return d

def test_finetune_cli_writes_the_comparison(tiny, tmp_path):
    out, save = tmp_path/'out', tmp_path/'weights'
    args = ['finetune', '--model', str(tiny/'model'), '--neurons', str(tiny/'general.json'), '--dataset', 'mrpc',
            '--budget', 'tiny', '--k', '2', '--out', str(out)]
    r = run(*args, '--save', '--save-dir', str(save))
    assert r.returncode == 0, r.stderr[-3000:]
    for f in ('figure7.csv', 'choices.csv', 'most_vs_least.csv', 'correlation.csv', 'paired.csv', 'items.parquet',
              'train_log.csv', 'finetune.json'):
        assert (out/f).exists(), f
    meta = json.loads((out/'finetune.json').read_text())
    assert [(x['name'], x['layers']) for x in meta['runs']][:2] == [('most', [1, 2]), ('least', [0, 3])]
    assert not set(meta['split']['train']) & set(meta['split']['eval'])
    assert len(meta['split']['train']) + len(meta['split']['eval']) == 1725          # MRPC test, split in two
    # weights: only the trained modules of each run, outside the repository
    assert sorted(p.name for p in save.iterdir()) == ['least', 'most', 'random_seed0']
    assert sorted(p.name for p in (save/'most').iterdir()) == ['finetune.json', 'modules.safetensors']
    from safetensors.torch import load_file
    assert sorted(load_file(str(save/'most'/'modules.safetensors'))) == sorted(
        f'model.layers.{l}.mlp.{m}.weight' for l in (1, 2) for m in ('gate_proj', 'up_proj', 'down_proj'))
    # the same command again refuses to overwrite
    r2 = run(*args)
    assert r2.returncode == 2 and '--overwrite' in r2.stderr

def test_finetune_refuses_weights_in_the_repository(tiny, tmp_path):
    r = run('finetune', '--model', str(tiny/'model'), '--neurons', str(tiny/'general.json'), '--dataset', 'qnli',
            '--budget', 'tiny', '--out', str(tmp_path/'o'), '--save', '--save-dir', str(ROOT/'finetuned'))
    assert r.returncode == 2 and 'repository' in r.stderr and 'Traceback' not in r.stderr
    assert not (ROOT/'finetuned').exists() and not (tmp_path/'o'/'finetune.json').exists()

def test_finetune_cli_paper_control_is_frozen_elsewhere(tiny, tmp_path):
    "The paper's parameter-matched control (MLP + attention modules without culture-general neurons) and a custom run."
    out = tmp_path/'ctl'
    r = run('finetune', '--model', str(tiny/'model'), '--neurons', str(tiny/'general.json'), '--dataset', 'qnli', '--budget', 'tiny',
            '--k', '2', '--mode', 'most', 'control', '--train', 'q:3', 'o:3', '--out', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    runs = {x['name']: x for x in json.loads((out/'finetune.json').read_text())['runs']}
    assert list(runs) == ['most', 'control', 'custom']
    ctl = runs['control']
    kinds = {k for k, _ in ctl['units']}
    assert kinds == {'mlp', 'attn'} and ctl['cg_count'] == 0                      # no culture-general neuron in the control
    assert ctl['units'][0] == ['mlp', 0] and 0.75 <= ctl['param_ratio'] <= 1.0
    assert any(m.endswith('self_attn.o_proj') for m in ctl['modules']) and any(m.endswith('mlp.down_proj') for m in ctl['modules'])
    for x in runs.values():
        fc = x['frozen_check']
        assert fc['unchanged'] and fc['sha256_before'] == fc['sha256_after'] and fc['trained_tensors_changed'] == fc['trained_tensors']
    assert 'frozen elsewhere bit for bit: True' in r.stdout

def test_finetune_trains_on_the_training_split_when_present(tiny, tmp_path):
    "With glue/qnli_train.tsv in the data root, training uses it and the whole validation file is evaluated."
    src = Path(os.environ.get('CULNIG_DATA', ROOT/'data'))
    root = tmp_path/'data'; (root/'glue').mkdir(parents=True)
    for p in src.iterdir():
        if p.is_dir() and p.name != 'glue': (root/p.name).symlink_to(p)
    for p in (src/'glue').iterdir(): (root/'glue'/p.name).symlink_to(p)
    rows = ['index\tquestion\tsentence\tlabel'] + [f'{i}\tWhat is {i}?\tIt is {i}.\t{"entailment" if i % 2 else "not_entailment"}'
                                                   for i in range(40)]
    (root/'glue'/'qnli_train.tsv').write_text('\n'.join(rows) + '\n', encoding='utf-8')
    out = tmp_path/'split'
    r = run('finetune', '--model', str(tiny/'model'), '--neurons', str(tiny/'general.json'), '--dataset', 'qnli', '--budget', 'tiny',
            '--mode', 'most', '--out', str(out), env={'CULNIG_DATA': str(root)})
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out/'finetune.json').read_text())
    assert meta['train_source'].startswith('glue/qnli_train.tsv') and len(meta['split']['train']) == 40
    assert all(i.startswith('train:') for i in meta['split']['train']) and len(meta['split']['eval']) == 5463
    r2 = run('finetune', '--model', str(tiny/'model'), '--neurons', str(tiny/'general.json'), '--dataset', 'mrpc', '--budget', 'tiny',
             '--mode', 'most', '--train-source', 'split', '--out', str(tmp_path/'x'), env={'CULNIG_DATA': str(root)})
    assert r2.returncode == 2 and 'mrpc_train.tsv' in r2.stderr and 'Traceback' not in r2.stderr
