"""`culnig select` through the console script: score folder in, neuron-set files out, summaries, clear errors."""
import json, os, subprocess, sys
from pathlib import Path

import torch

from culnig.neuronset import NeuronSet
from culnig.scorefile import Scores, score_key, to_original
from culnig.selection import select_general, select_specific

CULNIG = [str(Path(sys.executable).parent/'culnig')]
WIDTHS = {'mlp.gate_proj': 48, 'self_attn.q_proj': 16, 'self_attn.k_proj': 8, 'self_attn.v_proj': 8}
COUNTRIES = ['USA', 'UK', 'South Korea', 'Iran']


def run(*args):
    e = {**os.environ, 'CULNIG_PROGRESS': '0'}
    return subprocess.run([*CULNIG, 'select', *map(str, args)], capture_output=True, text=True, env=e, timeout=600)


def table(seed=0, n_layers=3):
    g = torch.Generator().manual_seed(seed)
    tensors = {score_key(d, s): torch.randn(len(COUNTRIES), n_layers, w, generator=g)
               for d in ('blend', 'blendcontrol', 'countryrc') for s, w in WIDTHS.items()}
    datasets = {d: dict(n_samples=n, n_per_country={c: n // 4 for c in COUNTRIES}, sum_p={}, sample_ids=[f'{d}{i}' for i in range(n)])
                for d, n in (('blend', 40), ('blendcontrol', 20), ('countryrc', 8))}
    return Scores(tensors, dict(model={'name': 'toy'}, countries=COUNTRIES, n_layers=n_layers, sites=WIDTHS, datasets=datasets))


def keys(ns):
    return [(e['module_name'], e['layer_idx'], e['neuron_idx']) for e in ns.top_neurons]


def test_general_specific_random_summary(tmp_path):
    sc = table()
    sc.save(tmp_path/'scores')
    r = run('general', '--scores', tmp_path/'scores', '--out', tmp_path/'general.json', '--t-mlp', 0.1, '--t-attn', 0.05)
    assert r.returncode == 0, r.stderr
    gen = NeuronSet.load(tmp_path/'general.json')
    assert gen.kind == 'general' and gen.model_name == 'toy'
    assert keys(gen) == keys(select_general(sc, t_mlp=0.1, t_attn=0.05))
    assert gen.params['t_mlp'] == 0.1 and gen.params['scores_sha256'] == sc.digest()
    assert set(gen.dataset_ids) == {'blend', 'countryrc'}

    r = run('specific', '--scores', tmp_path/'scores', '--all', '--out', tmp_path/'spec')
    assert r.returncode == 2 and 'China' in r.stderr and 'Traceback' not in r.stderr   # the table has no China
    r = run('specific', '--scores', tmp_path/'scores', '--country', 'Iran', 'South Korea', '--out', tmp_path/'spec', '--t', 0.1)
    assert r.returncode == 0, r.stderr
    iran = NeuronSet.load(tmp_path/'spec/specific_Iran.json')
    assert iran.country == 'Iran' and keys(iran) == keys(select_specific(sc, 'Iran', t=0.1))
    assert all(set(e['scores']) == set(COUNTRIES) for e in iran.top_neurons)

    r = run('random', '--scores', tmp_path/'scores', '--like', tmp_path/'general.json', '--seeds', '0-2', '--out', tmp_path/'rand')
    assert r.returncode == 0, r.stderr
    sizes = {len(NeuronSet.load(tmp_path/f'rand/random_seed{s}.json')) for s in range(3)}
    assert sizes == {len(gen)}

    r = run('summary', tmp_path/'general.json', tmp_path/'spec/specific_Iran.json', tmp_path/'spec/specific_SouthKorea.json',
            '--scores', tmp_path/'scores')
    assert r.returncode == 0, r.stderr
    assert 'Jaccard' in r.stdout and 'specific_Iran' in r.stdout and 'fraction' in r.stdout

    # nothing is overwritten silently
    before = (tmp_path/'general.json').read_bytes()
    r = run('general', '--scores', tmp_path/'scores', '--out', tmp_path/'general.json')
    assert r.returncode == 2 and '--overwrite' in r.stderr
    assert (tmp_path/'general.json').read_bytes() == before


def test_ablation_flags_and_original_scores(tmp_path):
    sc = table(seed=1)
    orig = tmp_path/'outputs/toy/cultural_neuron'; orig.mkdir(parents=True)
    for d in sc.datasets: (orig/f'{d}_max_scores.json').write_text(json.dumps(to_original(sc, d)))
    r = run('general', '--scores', orig, '--out', tmp_path/'g.json', '--no-control', '--no-crc-filter')
    assert r.returncode == 0, r.stderr
    g = NeuronSet.load(tmp_path/'g.json')
    assert g.params['control'] is False and g.params['crc'] is None
    assert keys(g) == keys(select_general(sc, control=False, crc=None))
    r = run('specific', '--scores', orig, '--country', 'UK', '--out', tmp_path/'s', '--no-z-filter', '--t', 0.05)
    assert r.returncode == 0, r.stderr
    assert keys(NeuronSet.load(tmp_path/'s/specific_UK.json')) == keys(select_specific(sc, 'UK', t=0.05, z=None))


def test_missing_scores_is_a_clear_error(tmp_path):
    r = run('general', '--scores', tmp_path/'nothing', '--out', tmp_path/'g.json')
    assert r.returncode == 2 and 'No score folder' in r.stderr and 'Traceback' not in r.stderr
