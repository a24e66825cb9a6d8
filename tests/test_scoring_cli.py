"""`culnig score` as a user meets it: a prompt file or the default datasets in, a score folder out; refusal to overwrite;
an interrupted run resumed to the same tensors."""
import json, os
from pathlib import Path
import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ['CULNIG_PROGRESS'] = '0'

import culnig.scoring as scoring
from culnig.core import OutputExists, CulnigError, Interrupted
from culnig.scoring import main_score, score_prompts, load_scores, CHECKPOINT_FILE


def _records(tok, n=10):
    words = 'rice tea bread festival school football noodles family work holiday'.split()
    recs = []
    for i in range(n):
        q = ' '.join(words[(i * 3 + j) % len(words)] for j in range(1 + i % 4))
        text = tok.apply_chat_template([{'role': 'user', 'content': f'Q{i}: {q}?'}], tokenize=False, add_generation_prompt=True)
        recs.append(dict(dataset='blendcontrol' if i % 3 == 0 else 'blend', id=f'q{i}', country=['USA', 'Iran'][i % 2],
                         text=text, label='ABCD'[i % 4], chat_path='chat_template', split='neuron'))
    return recs


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from culnig.testing import tiny_model
    from culnig.data import write_jsonl
    root = tmp_path_factory.mktemp('score')
    model, tok = tiny_model('llama')
    model.save_pretrained(root/'model'); tok.save_pretrained(root/'model')
    prompts = write_jsonl(_records(tok), root/'prompts.jsonl')
    from culnig.models import load_model
    m, t = load_model(str(root/'model'))
    direct = score_prompts(m, t, _records(t), batch_tokens=60, show_progress=False)
    return root, prompts, direct


def _args(root, prompts, out, *extra):
    return ['--model', str(root/'model'), '--prompts', str(prompts), '--out', str(out), '--batch-tokens', '60', *extra]


def _same(a, b):
    assert a.datasets == b.datasets and a.countries == b.countries and a.sites == b.sites
    for k in b.tensors: assert torch.equal(a.tensors[k], b.tensors[k]), k
    assert a.meta['datasets'] == b.meta['datasets']


def test_prompt_file_to_score_folder(setup, tmp_path, capsys):
    root, prompts, direct = setup
    assert main_score(_args(root, prompts, tmp_path/'out')) == 0
    sc = load_scores(tmp_path/'out', verify=True)
    _same(sc, direct)
    assert not (tmp_path/'out'/CHECKPOINT_FILE).exists()
    assert sc.meta['params']['control_datasets'] == ['blendcontrol'] and sc.meta['params']['pad_as_zero'] is False
    assert 'prompts.jsonl' in sc.meta['data_hashes'] and sc.meta['model']['name'] == 'model'
    assert (sc.get('blendcontrol', 'mlp.gate_proj') >= 0).all()
    # an existing result is never replaced silently; --overwrite replaces it; --resume on a finished result does nothing
    with pytest.raises(OutputExists): main_score(_args(root, prompts, tmp_path/'out'))
    assert main_score(_args(root, prompts, tmp_path/'out', '--resume')) == 0
    assert 'nothing to resume' in capsys.readouterr().out
    assert main_score(_args(root, prompts, tmp_path/'out', '--overwrite', '--sites', 'mlp.gate_proj', 'self_attn.q_proj')) == 0
    assert list(load_scores(tmp_path/'out').sites) == ['mlp.gate_proj', 'self_attn.q_proj']
    with pytest.raises(CulnigError, match='not both'):
        main_score(_args(root, prompts, tmp_path/'other', '--datasets', 'blend'))


def test_interrupted_run_resumes_to_identical_tensors(setup, tmp_path, monkeypatch):
    root, prompts, direct = setup
    real = scoring.attribution_pass
    calls = {'n': 0}
    def flaky(*a, **k):
        calls['n'] += 1
        if calls['n'] == 3: raise KeyboardInterrupt   # Ctrl-C during the third batch
        return real(*a, **k)
    monkeypatch.setattr(scoring, 'attribution_pass', flaky)
    out = tmp_path/'out'
    with pytest.raises(Interrupted): main_score(_args(root, prompts, out, '--checkpoint-minutes', '60'))
    assert (out/CHECKPOINT_FILE).exists() and not (out/'scores.json').exists()
    _, state = scoring.load_checkpoint(out/CHECKPOINT_FILE)
    assert state['batches_done'] == 2
    monkeypatch.setattr(scoring, 'attribution_pass', real)
    with pytest.raises(OutputExists): main_score(_args(root, prompts, out))          # neither --resume nor --overwrite
    assert main_score(_args(root, prompts, out, '--resume')) == 0
    _same(load_scores(out), direct)
    assert not (out/CHECKPOINT_FILE).exists()


def test_checkpoint_of_other_prompts_is_refused(setup, tmp_path, monkeypatch):
    root, prompts, direct = setup
    out = tmp_path/'out'
    real = scoring.attribution_pass
    def stop(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(scoring, 'attribution_pass', stop)
    with pytest.raises(Interrupted): main_score(_args(root, prompts, out, '--checkpoint-minutes', '0'))
    monkeypatch.setattr(scoring, 'attribution_pass', real)
    assert (out/CHECKPOINT_FILE).exists()
    with pytest.raises(CulnigError, match='different run'):
        main_score(_args(root, prompts, out, '--resume', '--pad-as-zero'))


def test_default_datasets(setup, tmp_path):
    root, _, _ = setup
    out = tmp_path/'out'
    assert main_score(['--model', str(root/'model'), '--out', str(out), '--limit-per-country', '1',
                       '--countries', 'USA', 'Iran', 'Assam', '--sites', 'mlp.gate_proj']) == 0
    sc = load_scores(out)
    assert sc.datasets == ['blend', 'blendcontrol', 'countryrc']
    assert sc.countries == ['USA', 'Iran', 'Assam']
    assert sc.dataset_countries('blend') == ['USA', 'Iran', 'Assam']
    assert sc.dataset_countries('countryrc') == ['USA', 'Iran']          # CountryRC: the 8 target countries only
    assert (sc.get('countryrc', 'mlp.gate_proj')[2] == 0).all()
    assert (sc.get('blendcontrol', 'mlp.gate_proj') >= 0).all()
    assert sc.meta['params']['source'] == {'datasets': ['blend', 'blendcontrol', 'countryrc'], 'split': 'neuron'}
    assert any(k.startswith('blend/') for k in sc.meta['data_hashes']) and any(k.startswith('countryrc/') for k in sc.meta['data_hashes'])


def test_throughput_and_auto_batch_budget(setup, tmp_path, capsys):
    "The default --batch-tokens is 'auto' (recorded with the number it chose); the last line is the run's throughput."
    import re
    root, prompts, direct = setup
    assert main_score(['--model', str(root/'model'), '--prompts', str(prompts), '--out', str(tmp_path/'out')]) == 0
    out = capsys.readouterr().out.rstrip().splitlines()
    m = re.fullmatch(r'throughput: ([\d.]+) prompts/s, (\d+) tokens/s \((\d+) prompts, (\d+) tokens in ([\d.]+) s, '
                     r'batches of at most (\d+) tokens\)', out[-1])
    assert m, out[-1]
    sc = load_scores(tmp_path/'out', verify=True)
    t, params = sc.meta['timing'], sc.meta['params']
    assert int(m[3]) == t['prompts'] == 10 and int(m[4]) == t['tokens'] > 0 and float(m[1]) > 0
    assert params['batch_tokens_requested'] == 'auto' and int(m[6]) == params['batch_tokens'] >= 256
    scoring.assert_scores_close(sc, direct, rtol=1e-5)      # other batches than the 60-token ones: the same scores
    for bad in ('0', 'lots'):
        with pytest.raises(SystemExit): main_score(['--prompts', str(prompts), '--out', str(tmp_path/'x'), '--batch-tokens', bad])
