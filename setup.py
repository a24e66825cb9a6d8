"""Package build for culnig. All metadata lives in settings.ini (nbdev 2)."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(here / 'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

def _reqs(key): return cfg.get(key, '').split()

# every `<name>_requirements` key of settings.ini is the extra `culnig[<name>]`; `dev` also takes the extras named in `dev_extras`
extras = {k[:-len('_requirements')]: _reqs(k) for k in cfg if k.endswith('_requirements') and k != 'requirements'}
extras['dev'] = extras.get('dev', []) + [r for name in cfg.get('dev_extras', '').split() for r in extras.get(name, [])]

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    license='Apache-2.0',
    keywords=cfg['keywords'].split(),
    project_urls={'Source': cfg['git_url']},
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['culnig', 'culnig.*']),
    include_package_data=True,
    package_data={'culnig': ['planted/*/*.json', 'planted/*/*.safetensors']},   # committed planted models (culnig.plant)
    # the experiment notebooks that `culnig report` runs, for installs without a checkout (culnig.report.experiments_dir)
    data_files=[('share/culnig/experiments', sorted(p.relative_to(here).as_posix() for p in (here/'nbs'/'experiments').glob('*.ipynb')))],
    python_requires='>=' + cfg['min_python'],
    install_requires=_reqs('requirements'),
    extras_require=extras,
    entry_points={'console_scripts': cfg['console_scripts'].split(),
                  # read by lm-eval releases with entry-point model discovery (its PR #4013); 0.4.13 needs `culnig lmeval run`
                  'lm_eval.models': ['culnig = culnig.lmeval:CulnigLM'],
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
    classifiers=['Programming Language :: Python :: 3', 'Intended Audience :: Science/Research'],   # licence: `license` above
)
