"""`culnig data fetch` / `check` and the data-card checks, offline: the download code runs against local folders laid out like
the Hugging Face and GitHub repositories, with only the hub clients (datasets.load_dataset, huggingface_hub.hf_hub_download,
urlopen) monkeypatched; the writers and parsers are culnig's own."""
import csv, io, json, os, shutil, subprocess, sys
from pathlib import Path

import pytest

from culnig import datacard
from culnig.core import DataFileMissing, data_root, sha256_file
from culnig.data import build_prompts

datasets = pytest.importorskip('datasets')
pd = pytest.importorskip('pandas')
REF = data_root()
CULNIG = [str(Path(sys.executable).parent/'culnig')]
pytestmark = pytest.mark.skipif(not (REF/'culturalbench/CulturalBench-Easy.csv').exists(), reason='needs the benchmark files (CULNIG_DATA)')
STEMS = sorted({e.rel.split('/')[-1].split('_data')[0] for e in datacard.DATA_FILES.values() if e.rel.startswith('blend/annotations/')})


def _parquet(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)


def _tsv_rows(p):
    lines = [l for l in p.read_text(encoding='utf-8-sig').split('\n') if l.strip()]
    head = lines[0].split('\t')
    return [dict(zip(head, l.split('\t'))) for l in lines[1:]]


@pytest.fixture(scope='module')
def hub(tmp_path_factory):
    "A local folder laid out like the hub repositories (parquet splits, as the hub serves them) and like GitHub."
    h = tmp_path_factory.mktemp('hub')
    bl = h/'hf/nayeon212/BLEnD/data'
    for kind, name in (('annotations', '{}_data.json'), ('questions', '{}_questions.csv'), ('prompts', '{}_prompts.csv')):
        d = bl/kind if kind != 'prompts' else h/'gh'/datacard.BLEND_GH/'main/data/prompts'     # prompts: only on GitHub
        d.mkdir(parents=True)
        for s in STEMS: shutil.copy(REF/'blend'/kind/name.format(s), d/name.format(s))
    (bl/'mc_questions_hf').mkdir()
    (bl/'mc_questions_hf/mc_questions_file_v1.1.json').write_text(json.dumps([dict(
        MCQID='Al-en-06_0', ID='Al-en-06', country='US', prompt='p', choices=json.dumps(dict(A='a', B='b', C='c', D='d')),
        choice_countries=json.dumps(dict(A='US', B='UK', C='dummy', D='Iran')), answer_idx='A')]))
    cb = pd.read_csv(REF/'culturalbench/CulturalBench-Easy.csv', dtype=str, keep_default_na=False)
    cb['data_idx'] = cb['data_idx'].astype(int); cb['question_idx'] = cb['question_idx'].astype(int)
    _parquet(cb, h/'hf/kellycyy/CulturalBench/CulturalBench-Easy/test.parquet')
    nm = [json.loads(l) for l in (REF/'normad/normad.jsonl').read_text().splitlines()]
    _parquet([{**{k: v for k, v in r.items() if k != 'ID'}, 'Background': 'b', 'Axis': 'x'} for r in nm],
             h/'hf/akhilayerukola/NormAd/train.parquet')                              # the hub's extra columns, no ID
    _parquet([json.loads(l) for l in (REF/'commonsenseqa/dev_rand_split.jsonl').read_text().splitlines()],
             h/'hf/tau/commonsense_qa/validation.parquet')
    qn = [dict(question=r['question'], sentence=r['sentence'], label=('entailment', 'not_entailment').index(r['label']), idx=int(r['index']))
          for r in _tsv_rows(REF/'glue/qnli_dev.tsv')]
    _parquet(qn, h/'hf/nyu-mll/glue/qnli/validation.parquet')
    _parquet(qn[:100], h/'hf/nyu-mll/glue/qnli/train.parquet')                      # short: must be refused
    for split, n in (('train', 3668), ('validation', 408)):
        _parquet([dict(sentence1=f's{i} a', sentence2=f's{i} b', label=i % 2, idx=i) for i in range(n)], h/f'hf/nyu-mll/glue/mrpc/{split}.parquet')
    gh = h/'gh'
    for repo, ref, path, src in ((datacard.CULNIG_GH, datacard.CULNIG_REF, 'data/CountryRC/data.json', REF/'countryrc/data.json'),
                                 (datacard.WVB_GH, datacard.WVB_REF, 'dataset_construction/question_metadata.json', REF/'worldvaluesbench/question_metadata.json'),
                                 (datacard.BLEND_GH, datacard.BLEND_GH_2024_06, 'data/questions/UK_questions.csv', REF/'blend/questions_2024-06/UK_questions.csv')):
        (gh/repo/ref/path).parent.mkdir(parents=True, exist_ok=True); shutil.copy(src, gh/repo/ref/path)
    t = json.loads((REF/'templates/culnig_prompts.json').read_text())
    base = gh/datacard.CULNIG_GH/datacard.CULNIG_REF
    (base/'prompt.py').write_text(''.join(f'{k.upper()}_PROMPTS = {v!r}\n' for k, v in t['neuron_prompts'].items()) +
                                  f"WVB_SYSTEM = {t['neuron_system_prompts']['worldvaluesbench']!r}\n" +
                                  'NEURON_PROMPTS = {' + ', '.join(f'{k!r}: {k.upper()}_PROMPTS' for k in t['neuron_prompts']) + '}\n' +
                                  "NEURON_SYSTEM_PROMPTS = {'worldvaluesbench': WVB_SYSTEM}\n")
    (base/'dataset.py').write_text(f"def f(tokenizer):\n    control_input_text = {t['blend_control']!r}\n    input_text = ''\n"
                                   f"    input_text += {t['blend_answer_prefix']!r}\n")
    return h


@pytest.fixture
def clients(hub, monkeypatch):
    "Point the hub clients at the local folders (the only thing replaced)."
    import huggingface_hub
    real = datasets.load_dataset
    calls = []
    def load_dataset(repo, config=None, split=None, **kw):
        calls.append((repo, config, split))
        folder = hub/'hf'/repo/(config or '')
        f = folder/f'{split}.parquet'
        if not f.exists(): raise FileNotFoundError(f'no split {split} in {folder}')
        return real('parquet', data_files=str(f), split='train')
    def hf_hub_download(repo_id, filename, repo_type=None, revision=None, **kw):
        assert repo_type == 'dataset'
        p = hub/'hf'/repo_id/filename
        if not p.exists(): raise FileNotFoundError(p)
        return str(p)
    def urlopen(url, timeout=None):
        rest = url.split('https://raw.githubusercontent.com/', 1)[1]
        return io.BytesIO((hub/'gh'/rest).read_bytes())
    monkeypatch.setattr(datasets, 'load_dataset', load_dataset)
    monkeypatch.setattr(huggingface_hub, 'hf_hub_download', hf_hub_download)
    monkeypatch.setattr(datacard, 'urlopen', urlopen)
    return calls


def test_fetch_everything_into_an_empty_root(tmp_path, clients):
    root = tmp_path/'data'
    res = {r['rel']: r for r in datacard.fetch_data(root, log=lambda *a: None)}
    # the files that may not be redistributed are not downloaded; the message says where they come from
    assert res['glue/mrpc_test.txt']['status'] == 'missing; not downloadable' and 'microsoft.com' in res['glue/mrpc_test.txt']['note']
    assert 'World Values Survey' in res['worldvaluesbench/full/full_value_qa.tsv']['note']
    # a short download is refused and nothing is written
    assert res['glue/qnli_train.tsv']['status'] == 'failed' and 'expected 104743' in res['glue/qnli_train.tsv']['note']
    assert not (root/'glue/qnli_train.tsv').exists() and not (root/'glue/qnli_train.tsv.part').exists()
    ok = [r for r, v in res.items() if v['status'] == 'downloaded']
    assert len(ok) == 48 + 1 + 1 + 9, sorted(set(res) - set(ok))
    # byte-identical where the source holds the same bytes (BLEnD, GitHub files, the templates rebuilt from the code)
    for rel in ['blend/annotations/US_data.json', 'blend/prompts/Iran_prompts.csv', 'countryrc/data.json',
                'blend/questions_2024-06/UK_questions.csv', 'worldvaluesbench/question_metadata.json']:
        assert sha256_file(root/rel) == sha256_file(REF/rel), rel
    assert json.loads((root/'templates/culnig_prompts.json').read_text()) == json.loads((REF/'templates/culnig_prompts.json').read_text())
    # the manifest records every written file
    man = json.loads((root/datacard.MANIFEST).read_text())['files']
    assert set(man) == set(ok) and man['glue/mrpc_train.tsv']['records'] == 3668
    assert man['culturalbench/CulturalBench-Easy.csv']['sha256'] == sha256_file(root/'culturalbench/CulturalBench-Easy.csv')
    # the records built from the fetched files are those built from the reference copies (one code path)
    for name, kw in (('culturalbench', {}), ('normad', dict(countries=['USA', 'egypt'])), ('commonsenseqa', {}), ('qnli', {})):
        assert build_prompts(name, root=root, **kw) == build_prompts(name, **kw), name
    # the released BLEnD file is used instead of the rebuild, and `check` says so
    recs = build_prompts('blend', root=root)
    assert [r['id'] for r in recs] == ['Al-en-06_0'] and recs[0]['filled_options'] == ['C']
    rows = {r['file']: r for r in datacard.check_data(root)}
    assert rows['blend/mc_questions_file_v1.1.json']['without_it'].startswith('used instead of the rebuild')
    assert rows['culturalbench/CulturalBench-Easy.csv']['status'].startswith('ok')
    assert rows['glue/mrpc_train.tsv']['status'].startswith('ok') and rows['glue/qnli_train.tsv']['status'] == 'missing'
    # a second fetch keeps what is there
    again = {r['rel']: r['status'] for r in datacard.fetch_data(root, ['countryrc'], log=lambda *a: None)}
    assert again == {'countryrc/data.json': 'kept (already present)'}


def test_fetched_file_cut_short_is_refused(tmp_path, clients):
    root = tmp_path/'data'
    datacard.fetch_data(root, ['mrpc', 'templates'], log=lambda *a: None)
    p = root/'glue/mrpc_train.tsv'
    p.write_text(''.join(p.read_text().splitlines(keepends=True)[:1000]))           # cut at a line boundary
    with pytest.raises(datacard.DataFileMismatch, match='records 999, expected 3,668'):
        datacard.resolve_data_file('glue/mrpc_train.tsv', root)
    res = datacard.fetch_data(root, ['mrpc'], overwrite=True, log=lambda *a: None)
    assert {r['rel']: r['status'] for r in res}['glue/mrpc_train.tsv'] == 'downloaded'
    assert datacard.resolve_data_file('glue/mrpc_train.tsv', root) == root/'glue/mrpc_train.tsv'


def test_datasets_cache_as_a_source(tmp_path, clients, monkeypatch):
    "CULNIG_DATA_SOURCE=datasets: a file missing from the data root is built from `datasets` with the fetch writer."
    monkeypatch.setenv('CULNIG_CACHE', str(tmp_path/'cache'))
    empty = tmp_path/'empty'; (empty/'templates').mkdir(parents=True)
    shutil.copy(REF/'templates/culnig_prompts.json', empty/'templates/culnig_prompts.json')
    with pytest.raises(DataFileMissing, match='CULNIG_DATA_SOURCE=datasets'):
        build_prompts('qnli', root=empty)
    monkeypatch.setenv('CULNIG_DATA_SOURCE', 'datasets')
    assert build_prompts('qnli', root=empty) == build_prompts('qnli')
    assert ('nyu-mll/glue', 'qnli', 'validation') in clients
    n = len(clients)
    assert build_prompts('qnli', root=empty, limit_per_country=3)      # the second time: from the materialised cache
    assert len(clients) == n
    # BLEnD's files come from the huggingface_hub cache the same way
    assert build_prompts('blend_saq', root=empty, countries=['UK']) == build_prompts('blend_saq', countries=['UK'])
    assert (tmp_path/'cache/datasets-files/blend/annotations/UK_data.json').exists()


def test_cli_check_and_truncated_file(tmp_path):
    env = {**os.environ, 'CULNIG_PROGRESS': '0'}
    r = subprocess.run([*CULNIG, 'data', 'check'], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'culturalbench/CulturalBench-Easy.csv' in r.stdout and 'BLEnD multiple choice: rebuilt from the annotations' in r.stdout
    root = tmp_path/'data'
    for rel in ('culturalbench/CulturalBench-Easy.csv', 'templates/culnig_prompts.json'):
        (root/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy(REF/rel, root/rel)
    p = root/'culturalbench/CulturalBench-Easy.csv'
    lines = p.read_text(encoding='utf-8').splitlines(keepends=True)
    rd = csv.reader(lines)
    for _ in range(497): next(rd)                                                   # header + 496 records, cut at a line boundary
    p.write_text(''.join(lines[:rd.line_num]), encoding='utf-8')
    out = tmp_path/'p.jsonl'
    r = subprocess.run([*CULNIG, 'prompts', '--dataset', 'culturalbench', '--model', 'none', '--root', str(root), '--out', str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert 'records 496, expected 1,227' in r.stderr and 'culnig data fetch --datasets culturalbench' in r.stderr
    assert not out.exists()
    r = subprocess.run([*CULNIG, 'data', 'check', '--root', str(root)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1 and 'records differ' in r.stdout and '496/1227' in r.stdout
    r = subprocess.run([*CULNIG, 'prompts', '--dataset', 'culturalbench', '--model', 'none', '--root', str(root), '--out', str(out),
                        '--allow-data-mismatch'], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and 'does not match' in r.stderr and out.exists()


def test_fetch_command(tmp_path, clients, capsys):
    root = tmp_path/'data'
    assert datacard.main_data(['fetch', '--datasets', 'countryrc,templates', '--root', str(root)]) == 0
    out = capsys.readouterr().out
    assert 'countryrc/data.json' in out and '2 downloaded, 0 failed' in out and (root/datacard.MANIFEST).exists()
    assert datacard.main_data(['fetch', '--datasets', 'qnli', '--root', str(root)]) == 1            # the short train split
    assert 'expected 104743' in capsys.readouterr().out
    with pytest.raises(datacard.CulnigError, match="Did you mean 'culturalbench'"):
        datacard.main_data(['fetch', '--datasets', 'culturalbenc', '--root', str(root)])
    assert datacard.main_data(['check', '--root', str(root)]) == 0
    assert 'countryrc/data.json' in capsys.readouterr().out
