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
