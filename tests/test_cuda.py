"""CUDA paths: the same scores, interventions and evaluations on a GPU as on the CPU. Skipped cleanly without CUDA."""
import pytest, torch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')

def _records():
    return [dict(dataset='blend', id=f'q{i}', country=c, text=f'Question {i} about {c}? Answer:', label='A',
                 options=['A', 'B', 'C', 'D'], split='heldout') for i, c in enumerate(['USA', 'UK', 'USA', 'China'])]

@cuda
def test_scores_on_cuda_equal_cpu():
    from culnig.testing import tiny_model
    from culnig.scoring import score_prompts
    m, tok = tiny_model('phi3')
    cpu = score_prompts(m, tok, _records(), show_progress=False)
    gpu = score_prompts(m.to('cuda'), tok, _records(), show_progress=False)
    for k in cpu.tensors: torch.testing.assert_close(gpu.tensors[k], cpu.tensors[k], rtol=1e-4, atol=1e-6)

@cuda
def test_bf16_scores_accumulate_in_float32():
    from culnig.testing import tiny_model
    from culnig.scoring import score_prompts
    m, tok = tiny_model('llama')
    s = score_prompts(m.to('cuda', torch.bfloat16), tok, _records(), show_progress=False)
    assert all(t.dtype == torch.float32 for t in s.tensors.values())

@cuda
def test_intervention_and_evaluation_on_cuda_equal_cpu():
    from culnig.testing import tiny_model
    from culnig.evaluation import evaluate
    m, tok = tiny_model('qwen2')
    sets = {('mlp.gate_proj', 0): torch.tensor([0, 3, 5])}
    cpu = evaluate(m, tok, _records(), neuron_sets=sets, show_progress=False, n_boot=50).items
    gpu = evaluate(m.to('cuda'), tok, _records(), neuron_sets=sets, show_progress=False, n_boot=50).items
    assert list(cpu.prediction) == list(gpu.prediction)

def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available(): pytest.skip('CUDA is present')
    from culnig.models import resolve_device
    from culnig.core import CulnigError
    with pytest.raises(CulnigError, match='sees no CUDA device'): resolve_device('cuda')
