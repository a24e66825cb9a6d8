"""Worker for tests/test_distributed.py: run under torchrun; rank 0 saves the reduced scores to argv[1]."""
import sys, torch
from culnig.models import load_model
from culnig.data import build_prompts
from culnig.distributed import init_distributed, score_distributed, is_main, world

out = sys.argv[1]
init_distributed('cpu')
torch.manual_seed(0)
model, tok = load_model('smollm2-135m-instruct', device='cpu')
records = build_prompts('blend', tok, split='neuron', countries=['USA', 'UK', 'China'], limit_per_country=2)
scores = score_distributed(model, tok, records, show_progress=False, sites=['mlp.gate_proj', 'self_attn.q_proj'])
assert world()[1] == 2
if is_main(): scores.save(out)
