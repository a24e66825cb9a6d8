"""One command-line vocabulary: every command that takes a shared option (culnig.options) declares it the same way."""
import argparse, importlib
import pytest

from culnig.options import CountryList, DTYPE_CHOICES, SPLIT_CHOICES
from culnig.models import DEFAULT_MODEL

# (command, function building its parser, sub-command or None)
PARSERS = [('prompts', 'culnig.options', 'prompts_parser', None), ('score', 'culnig.scoring', 'score_parser', None),
           ('evaluate', 'culnig.evaluation', 'evaluate_parser', None), ('methods', 'culnig.methods', 'methods_parser', 'score'),
           ('finetune', 'culnig.finetune', 'finetune_parser', None), ('report', 'culnig.report', 'report_parser', None),
           ('plant', 'culnig.plant', 'plant_parser', None), ('lmeval', 'culnig.lmeval', 'lmeval_parser', 'tasks'),
           ('lmeval', 'culnig.lmeval', 'lmeval_parser', 'check')]

def _parser(mod, fn, sub):
    p = getattr(importlib.import_module(mod), fn)()
    if sub is None: return p
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return subs.choices[sub]

def _options(p):
    return {s: a for a in p._actions for s in a.option_strings}

def _all():
    return [(f"{cmd}{' ' + sub if sub else ''}", _options(_parser(mod, fn, sub)), _parser(mod, fn, sub))
            for cmd, mod, fn, sub in PARSERS]

def test_the_shared_options_are_declared_once():
    seen = {k: [] for k in ('--model', '--dtype', '--device', '--split', '--countries', '--limit-per-country', '--datasets', '--prompts')}
    for name, opts, p in _all():
        assert '--model' in opts, name                                    # every command that loads or names a model
        for k in seen:
            if k in opts: seen[k].append(name)
        m = opts['--model']
        assert (m.default, m.choices, m.required) == (DEFAULT_MODEL, None, False), name
        if '--dtype' in opts: assert (opts['--dtype'].default, tuple(opts['--dtype'].choices)) == (None, DTYPE_CHOICES), name
        if '--device' in opts: assert (opts['--device'].default, opts['--device'].choices) == ('auto', None), name
        if '--split' in opts:
            s = opts['--split']
            assert (s.default, tuple(s.choices)) == (None, SPLIT_CHOICES), name
            assert p.get_default('split_default') in SPLIT_CHOICES and f"default: {p.get_default('split_default')}" in s.help, name
        if '--countries' in opts:
            c = opts['--countries']
            assert isinstance(c, CountryList) and (c.nargs, c.default) == ('+', None), name
        if '--limit-per-country' in opts:
            l = opts['--limit-per-country']
            assert (l.type, l.default) == (int, None) and 'per dataset, country and split' in l.help, name
        if '--datasets' in opts and '--prompts' in opts: assert opts['--datasets'].default is None, name
    # the commands that load a model for prompts have the whole model vocabulary
    for k in ('--dtype', '--device'): assert {'score', 'evaluate', 'methods score'} <= set(seen[k]), (k, seen[k])
    assert set(seen['--prompts']) == {'score', 'evaluate', 'methods score'}
    assert {'prompts', 'score', 'evaluate', 'methods score', 'lmeval tasks', 'report', 'plant'} <= set(seen['--countries'])

@pytest.mark.parametrize('name,mod,fn,sub', PARSERS[:-1])
def test_countries_parse_alike(name, mod, fn, sub):
    "Spaces or commas, the same list; an empty value is the same clear error in every command."
    from culnig.core import UnknownName
    p = _parser(mod, fn, sub)
    if '--countries' not in _options(p): pytest.skip(f'{name} takes no --countries')
    req = {a.option_strings[0]: (list(a.choices)[0] if a.choices else 'x') for a in p._actions if a.required and a.option_strings}
    base = [x for k, v in req.items() for x in (k, v)]
    a = p.parse_args(base + ['--countries', 'South Korea,USA', 'China'])
    assert a.countries == ['South Korea', 'USA', 'China']
    with pytest.raises(UnknownName, match='without a country name'): p.parse_args(base + ['--countries', ' , '])

def test_bad_dtype_is_refused_with_the_choices(capsys):
    from culnig.cli import main
    for cmd in (['score', '--out', 'x'], ['evaluate', '--out', 'x'], ['methods', 'score', '--method', 'lape', '--out', 'x']):
        with pytest.raises(SystemExit) as e: main([*cmd, '--dtype', 'float33'])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "invalid choice: 'float33'" in err and "'bfloat16'" in err
