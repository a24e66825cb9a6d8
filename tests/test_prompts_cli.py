"""`culnig prompts` (culnig.options.main_prompts) called as a function: writes JSONL + metadata, never overwrites silently."""
import json
from collections import Counter
from pathlib import Path

import pytest

from culnig.core import DataFileMissing, OutputExists, UnknownName, data_file, sha256_file
from culnig.data import read_jsonl
from culnig.options import main_prompts

def _need(rel):
    try: return data_file(rel)
    except DataFileMissing as e: pytest.skip(f'benchmark data not available: {e}')

def test_writes_jsonl_and_refuses_to_overwrite(tmp_path, capsys):
    _need('countryrc/data.json'); _need('templates/culnig_prompts.json')
    out = tmp_path/'sub'/'countryrc.jsonl'
    args = ['--dataset', 'countryrc', '--countries', 'USA', 'Iran', '--split', 'neuron', '--model', 'none', '--out', str(out)]
    assert main_prompts(args) == 0
    recs = read_jsonl(out)
    # 25 neuron items x 4 templates per country
    assert Counter(r['country'] for r in recs) == {'USA': 100, 'Iran': 100}
    assert {r['split'] for r in recs} == {'neuron'} and {r['chat_path'] for r in recs} == {'none'}
    assert all(r['label'] in r['options'] and r['country'] in r['option_texts'] for r in recs)
    meta = json.loads(out.with_name(out.name + '.meta.json').read_text())
    assert meta['n_records'] == 200 and meta['datasets'] == ['countryrc'] and meta['model'] == 'none'
    assert meta['data_hashes']['countryrc/data.json'] == sha256_file(data_file('countryrc/data.json'))
    assert 'wrote 200 records' in capsys.readouterr().out
    before = out.read_bytes()
    with pytest.raises(OutputExists, match='--overwrite'):
        main_prompts(['--dataset', 'countryrc', '--countries', 'China', '--model', 'none', '--out', str(out)])
    assert out.read_bytes() == before                          # untouched
    assert main_prompts(['--dataset', 'countryrc', '--countries', 'China', '--model', 'none', '--out', str(out), '--overwrite']) == 0
    assert {r['country'] for r in read_jsonl(out)} == {'China'}

def test_same_arguments_same_bytes(tmp_path):
    _need('normad/normad.jsonl'); _need('templates/culnig_prompts.json')
    a, b = tmp_path/'a.jsonl', tmp_path/'b.jsonl'
    for out in (a, b):
        assert main_prompts(['--dataset', 'normad', '--countries', 'USA,UK', '--model', 'none', '--out', str(out)]) == 0
    assert a.read_bytes() == b.read_bytes() and len(read_jsonl(a)) == 4 * (42 + 27)

def test_default_model_applies_chat_template(tmp_path):
    _need('culturalbench/CulturalBench-Easy.csv'); _need('templates/culnig_prompts.json')
    out = tmp_path/'cb.jsonl'
    assert main_prompts(['--dataset', 'culturalbench', '--countries', 'Spain', '--limit-per-country', '1', '--out', str(out)]) == 0
    recs = read_jsonl(out)
    assert len(recs) == 8 and {r['split'] for r in recs} == {'neuron', 'heldout'}
    assert all(r['chat_path'] == 'chat_template' and r['text'].startswith('<|im_start|>system\n') and
               r['text'].endswith('<|im_end|>\n<|im_start|>assistant\n') and r['messages'][0]['content'] in r['text'] for r in recs)

def test_clear_errors(tmp_path):
    _need('templates/culnig_prompts.json')
    out = tmp_path/'x.jsonl'
    with pytest.raises(UnknownName, match="Did you mean 'normad'"):
        main_prompts(['--dataset', 'normadd', '--model', 'none', '--out', str(out)])
    with pytest.raises(UnknownName, match='South Korea'):
        main_prompts(['--dataset', 'countryrc', '--countries', 'South Corea', '--model', 'none', '--out', str(out)])
    with pytest.raises(DataFileMissing, match='mrpc_test.txt'):
        main_prompts(['--dataset', 'mrpc', '--model', 'none', '--root', str(tmp_path/'empty'), '--out', str(out)])
    assert not out.exists()
