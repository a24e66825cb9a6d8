"""End to end on tiny inputs, as a user runs it: prompts -> score -> select -> evaluate (baseline, suppressed) -> compare,
all through the `culnig` command on the default model, plus determinism of the whole chain."""
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd

BIN = Path(sys.executable).parent

def culnig(*args):
    env = {**os.environ, 'CULNIG_PROGRESS': '0'}
    r = subprocess.run([str(BIN/'culnig'), *map(str, args)], capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, f"culnig {' '.join(map(str, args))}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r.stdout

def test_pipeline_end_to_end(tmp_path):
    t = tmp_path
    culnig('prompts', '--dataset', 'blend,blendcontrol', '--split', 'neuron', '--countries', 'USA,China', '--limit-per-country', '2', '--out', t/'id.jsonl')
    culnig('prompts', '--dataset', 'countryrc', '--split', 'neuron', '--countries', 'USA,China', '--limit-per-country', '1', '--out', t/'crc.jsonl')
    records = [json.loads(l) for f in ('id.jsonl', 'crc.jsonl') for l in (t/f).read_text().splitlines()]
    (t/'all.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
    culnig('score', '--prompts', t/'all.jsonl', '--sites', 'mlp.gate_proj', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', '--out', t/'scores')
    culnig('score', '--prompts', t/'all.jsonl', '--sites', 'mlp.gate_proj', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', '--out', t/'scores2')
    a, b = (json.loads((t/d/'scores.json').read_text()) for d in ('scores', 'scores2'))
    assert {k: v['sha256'] for k, v in a['tensors'].items()} == {k: v['sha256'] for k, v in b['tensors'].items()}, 'same prompts, same scores'
    culnig('select', 'general', '--scores', t/'scores', '--out', t/'general.json')
    culnig('select', 'random', '--scores', t/'scores', '--like', t/'general.json', '--seeds', '0-1', '--out', t/'random')
    general = json.loads((t/'general.json').read_text())
    assert general['kind'] == 'general' and len(general['top_neurons']) > 0
    assert {n['module_name'] for n in general['top_neurons']} <= {'mlp.gate_proj', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'}
    rnd = sorted((t/'random').glob('*.json'))
    assert len(rnd) == 2 and all(len(json.loads(f.read_text())['top_neurons']) == len(general['top_neurons']) for f in rnd)
    ev = ['evaluate', '--datasets', 'blend', 'commonsenseqa', '--split', 'heldout', '--countries', 'USA', 'China', '--limit-per-country', '2', '--n-boot', '200', '--quiet']
    culnig(*ev, '--out', t/'base')
    culnig(*ev, '--neurons', t/'general.json', '--operation', 'suppress', '--out', t/'general_eval')
    meta = json.loads((t/'general_eval/meta.json').read_text())
    assert meta['operation'] == 'suppress' and meta['n_neurons'] == len({(n['module_name'], n['layer_idx'], n['neuron_idx']) for n in general['top_neurons']})
    base, sup = pd.read_parquet(t/'base/items.parquet'), pd.read_parquet(t/'general_eval/items.parquet')
    assert list(base.id) == list(sup.id) and len(base) > 4
    assert (base.p_gold_restricted - sup.p_gold_restricted).abs().max() > 0, 'suppressing neurons must change the model'
    out = culnig('compare', t/'base', t/'general_eval')
    assert 'blend' in out and 'commonsenseqa' in out
