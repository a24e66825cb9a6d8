"""Pack what a GPU check needs into one small folder, for a GPU machine that has neither the data root nor the model packages.

    python bench/gpu_bundle.py pack OUT          # here: model config + tokenizer (no weights) and the bench's prompt records
    python bench/gpu_bundle.py weights OUT       # there: random weights (seed 0) with the same config, so the same shapes

The model folder OUT/model then loads with `culnig.models.load_model(OUT/'model')`. Random weights cost the same as the real
ones (same shapes, same tokens), so timings and memory carry over; scores and accuracies do not, and nothing here reports them.
OUT/blend_neuron.jsonl holds the BLEnD neuron-split prompts of the 8 target countries (first 64 each), as `bench/scoring.py
--records` reads them.
"""
from __future__ import annotations
import argparse, json, os, shutil, sys
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
MODEL_FILES = ('config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja',
               'special_tokens_map.json')


def pack(out: Path, model: str, n_per_country: int):
    from culnig.core import TARGET_COUNTRIES
    from culnig.data import build_prompts
    from culnig.models import source_folder
    from transformers import AutoTokenizer
    src, info = source_folder(model)
    (out/'model').mkdir(parents=True, exist_ok=True)
    for f in MODEL_FILES:
        if (Path(src)/f).is_file(): shutil.copy2(Path(src)/f, out/'model'/f)
    tok = AutoTokenizer.from_pretrained(src)
    recs = build_prompts('blend', tok, split='neuron', countries=list(TARGET_COUNTRIES), limit_per_country=n_per_country)
    with open(out/'blend_neuron.jsonl', 'w', encoding='utf-8') as f:
        for r in recs: f.write(json.dumps(r, ensure_ascii=False) + '\n')
    (out/'bundle.json').write_text(json.dumps(dict(model=model, source=info, records=len(recs), weights='random (seed 0)'),
                                              indent=1, default=str) + '\n')
    print(f'{out}: config and tokenizer of {model} (no weights), {len(recs)} prompt records')


def weights(out: Path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(out/'model')
    m = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    m.save_pretrained(out/'model')
    print(f'{out}/model: random weights, {sum(p.numel() for p in m.parameters()) / 1e6:.1f} M parameters')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('what', choices=('pack', 'weights'))
    ap.add_argument('out', type=Path)
    ap.add_argument('--model', default='smollm2-135m-instruct')
    ap.add_argument('--n-per-country', type=int, default=64)
    a = ap.parse_args()
    pack(a.out, a.model, a.n_per_country) if a.what == 'pack' else weights(a.out)
