"""The lm-evaluation-harness bridge (culnig.lmeval): the registered model, generated tasks, the item-level cross-check, bad input."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

pytest.importorskip('lm_eval')
import culnig.lmeval as L
from culnig.cli import main
from culnig.core import CulnigError
from culnig.neuronset import NeuronSet

CULNIG = [str(Path(sys.executable).parent/'culnig')]  # the installed console script
ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1', 'CULNIG_PROGRESS': '0'}


@pytest.fixture(scope='module')
def neuron_files(tmp_path_factory):
    d = tmp_path_factory.mktemp('neurons')
    NeuronSet(kind='custom', top_neurons=[dict(module_name='mlp.up_proj', layer_idx=l, neuron_idx=i)
                                          for l in (0, 1) for i in range(24)]).save(d/'half.json')
    NeuronSet(kind='custom', top_neurons=[dict(module_name='mlp.gate_proj', layer_idx=0, neuron_idx=i) for i in range(8)]).save(d/'gate.json')
    # made for a wider model: neuron 4000 does not exist in the tiny model's 48-wide MLP
    NeuronSet(kind='custom', model_name='gemma-3-270m',
              top_neurons=[dict(module_name='mlp.up_proj', layer_idx=0, neuron_idx=4000)]).save(d/'other.json')
    return d


@pytest.fixture(scope='module')
def tasks_dir(tmp_path_factory):
    "BLEnD (context ends in the answer prefix, spellings 'A' and ' A') and QNLI (context ends in '\\n', digit labels)."
    return L.write_tasks(tmp_path_factory.mktemp('lmeval')/'tasks', ['blend', 'qnli'], limit_per_country=1)


def _lls(name, args, requests):
    from lm_eval.api.registry import get_model
    lm = get_model(name).create_from_arg_string(args, dict(batch_size=2, device='cpu'))
    return lm, [ll for ll, _ in lm.loglikelihood(requests)]


def test_registered_model_equals_hf_and_intervenes(tiny_dir, neuron_files):
    from lm_eval.api.instance import Instance
    reqs = [Instance('loglikelihood', {}, ('Question: which city? Answer:', c), i) for i, c in enumerate([' Paris', ' Rome', 'A', '\n1'])]
    _, plain = _lls('hf', f'pretrained={tiny_dir}', reqs)
    lm, same = _lls('culnig', f'pretrained={tiny_dir}', reqs)
    assert same == plain                                        # exactly: no neuron file, no hook
    assert lm.culnig_plan is None and lm.get_model_info()['culnig']['n_neurons'] == 0
    lm, supp = _lls('culnig', f'pretrained={tiny_dir},neurons={neuron_files}/half.json,operation=suppress', reqs)
    assert len(lm.culnig_plan) == 48 and lm.get_model_info()['culnig']['neuron_sets'][0]['sha256']
    assert all(abs(a - b) > 1e-4 for a, b in zip(supp, plain))
    # several files (lm-eval's list string), enhance x3; then the hooks come off and the plain values return
    lm, enh = _lls('culnig', f'pretrained={tiny_dir},neurons={neuron_files}/half.json;{neuron_files}/gate.json,operation=enhance,factor=3', reqs)
    assert len(lm.culnig_plan) == 56 and all(abs(a - b) > 1e-4 for a, b in zip(enh, plain))
    lm.remove_intervention()
    assert [ll for ll, _ in lm.loglikelihood(reqs)] == plain
    # generation runs with the hooks in place (transformers 5 through lm-eval's generate_until)
    lm, _ = _lls('culnig', f'pretrained={tiny_dir},neurons={neuron_files}/half.json,max_length=64', reqs[:1])
    out = lm.generate_until([Instance('generate_until', {}, ('Hello', dict(until=['\n\n'], max_gen_toks=4, do_sample=False)), 0)])
    assert len(out) == 1 and isinstance(out[0], str)


def test_bad_input_fails_before_evaluation(tiny_dir, neuron_files, tasks_dir, tmp_path):
    from lm_eval.api.registry import get_model
    cls = get_model('culnig')
    with pytest.raises(CulnigError, match='was made for the model'):
        cls.create_from_arg_string(f'pretrained={tiny_dir},neurons={neuron_files}/other.json', dict(device='cpu'))
    with pytest.raises(CulnigError, match="Unknown operation 'amplify'"):
        cls.create_from_arg_string(f'pretrained={tiny_dir},neurons={neuron_files}/half.json,operation=amplify', dict(device='cpu'))
    with pytest.raises(CulnigError, match='No neuron-set file'):
        L.run(str(tiny_dir), ['culnig_blend'], include_path=tasks_dir, neuron_sets=[tmp_path/'missing.json'])
    # a benchmark file missing from the data root, and a generated data file deleted afterwards
    with pytest.raises(CulnigError, match='not found'):
        L.write_tasks(tmp_path/'t', ['countryrc'], root=tmp_path/'empty')
    broken = L.write_tasks(tmp_path/'broken', ['qnli'], limit_per_country=1)
    (broken/'data'/'culnig_qnli.jsonl').unlink()
    with pytest.raises(CulnigError, match='culnig_qnli.jsonl'):
        L.run(str(tiny_dir), ['culnig_qnli'], include_path=broken)
    with pytest.raises(CulnigError, match="culnig_blend"):
        L.run(str(tiny_dir), ['culnig_blnd'], include_path=tasks_dir)
    # the command line: one line, exit code 2, no traceback, before lm-eval starts
    for args, msg in [(f'pretrained={tiny_dir},neurons={neuron_files}/half.json,operation=zero', "Unknown operation 'zero'")]:
        r = subprocess.run([*CULNIG, 'lmeval', 'run', '--model', 'culnig', '--model_args', args,
                            '--include_path', str(tasks_dir), '--tasks', 'culnig_qnli'], capture_output=True, text=True, env=ENV)
        assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]


def test_generated_tasks_agree_item_by_item_on_default_model(tasks_dir):
    "culnig's correct_restricted and lm-eval's acc: the same predictions, p(gold) equal to float rounding."
    # the embedded model's name works as `pretrained`; without neurons it is lm-eval's hf model on the converted folder, exactly
    from lm_eval.api.instance import Instance
    from culnig.models import model_source
    doc = L.read_docs(tasks_dir, 'culnig_qnli', 1)[0]
    reqs = [Instance('loglikelihood', {}, (doc['text'], c), i) for i, c in enumerate(doc['choices'])]
    lm, ours = _lls('culnig', 'pretrained=smollm2-135m-instruct', reqs)
    _, plain = _lls('hf', f'pretrained={model_source("smollm2-135m-instruct")[0]}', reqs)
    assert ours == plain and lm.culnig['model']['name'] == 'smollm2-135m-instruct'
    del lm
    for task in ('culnig_blend', 'culnig_qnli'):
        table = L.cross_check(tasks_dir, task, limit=4)
        a = L.agreement(table)
        assert a['items'] == 4 and a['disagree'] == 0, table
        assert list(table.culnig_correct) == list(table.lmeval_acc)
        assert a['max_abs_diff_p_gold'] < 1e-4


def test_cli_tasks_and_lm_eval_entry_point(tmp_path):
    "`culnig lmeval tasks` writes loadable tasks; `culnig lmeval run` is lm-eval's own CLI with the culnig model registered (default model, --limit)."
    for name, site, n in (('a', 'mlp.up_proj', 10), ('b', 'self_attn.v_proj', 8)):       # sets that fit smollm2-135m-instruct
        NeuronSet(kind='custom', model_name='smollm2-135m-instruct',
                  top_neurons=[dict(module_name=site, layer_idx=3, neuron_idx=i) for i in range(n)]).save(tmp_path/f'{name}.json')
    out = tmp_path/'tasks'
    assert main(['lmeval', 'tasks', '--out', str(out), '--datasets', 'mrpc', '--limit-per-country', '1']) == 0
    assert main(['lmeval', 'tasks', '--out', str(out), '--datasets', 'mrpc']) == 2            # exists: needs --overwrite
    man = json.loads((out/'culnig_tasks.json').read_text())
    assert man['tasks']['culnig_mrpc']['n_docs'] == 4 and man['tasks']['culnig_mrpc']['data_files']
    res = tmp_path/'res'
    r = subprocess.run([*CULNIG, 'lmeval', 'run', '--model', 'culnig', '--model_args',
                        f'pretrained=smollm2-135m-instruct,neurons={tmp_path}/a.json,neurons={tmp_path}/b.json,operation=suppress',
                        '--include_path', str(out), '--tasks', 'culnig_mrpc', '--limit', '2', '--batch_size', '2',
                        '--device', 'cpu', '--output_path', str(res)], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    files = list(res.rglob('results_*.json'))
    assert len(files) == 1
    got = json.loads(files[0].read_text())
    assert 'acc,none' in got['results']['culnig_mrpc']
    assert got['config']['model'] == 'culnig' and got['config']['model_args']['neurons'].count('.json') == 2
    assert got['config']['culnig']['n_neurons'] == 18 and len(got['config']['culnig']['neuron_sets']) == 2
    assert got['config']['culnig']['model']['name'] == 'smollm2-135m-instruct' and got['config']['culnig']['culnig_version']
