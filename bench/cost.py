"""Per-token cost of scoring and evaluation, measured on this machine's CPU with the default model, and scaled to the
paper's six models as ESTIMATES of memory and time on 1, 2, 4 and 8 H100s (issue 9, README "Running the paper's models").

    CULNIG_DATA=... python bench/cost.py            # first 8 BLEnD neuron-split prompts of 4 countries, each pass run twice
    CULNIG_DATA=... python bench/cost.py --quick    # 2 prompts per country
    options: --per-country N, --countries ..., --repeats N, --threads N (torch threads), --batch-tokens N (scoring's budget,
             default culnig's 'auto'), --also-batch-tokens N... (also timed, default 1024), --profile [N], --util U (assumed H100
             utilisation, default 0.3), --exact-lengths (tokenise every workload prompt, about a minute more, instead of
             a 1-in-k sample of about 500 per dataset), --no-measure (estimates only), --json PATH (all numbers as JSON)

Part 1 (measured). `culnig.scoring.score_prompts` and `culnig.evaluation.evaluate` (classification path) on the same
records, `--repeats` times each, alternating; the fastest run of each is reported. Tokens are the encoded prompt lengths
(`culnig.scoring.encode_records`), without padding (the padded count is printed too). Wall-clock and process CPU time are
both printed: the machine may be shared, so the load average before and after is printed as well.

Part 2 (formula). N = non-embedding parameters. Forward ~ 2N FLOPs per token. Scoring = forward + a backward that computes
gradients for the activations only (the weights are frozen, so no weight gradients) ~ 2 x forward = 4N FLOPs per token.
Evaluation = forward with the LM head at the last position only ~ 2N FLOPs per token. Per prompt, the LM head adds
2*V*h FLOPs (forward) and as much again for scoring's backward; attention's score/value products add 4*T*q_width per
token and layer (under 1% at these prompt lengths) and are left out. Dividing these FLOPs by the measured times gives
this CPU's effective FLOP/s for each pass.

Part 3 (ESTIMATES). For each paper model, from its public config.json (see PAPER_MODELS below, with the source of every
value): parameters, widths, neurons scored and the selection pool, bf16 weight memory, the float32 score accumulator,
activation memory for one batch of 16 x 128 tokens, and the time of the paper's scoring workload and of one evaluation of
every benchmark on 1/2/4/8 H100s under the assumptions in ASSUMPTIONS (utilisation U of 989 TFLOP/s bf16 dense, perfect
data-parallel scaling, a model that does not fit one GPU spread over several with device_map inside one replica, which
then runs at one GPU's speed because its layers run one after another). Workload sizes (prompt counts, mean lengths)
come from culnig.data on the default tokenizer; other tokenizers and chat templates change the token counts.
"""
from __future__ import annotations
import argparse, json, math, os, platform, time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('CULNIG_PROGRESS', '0')

# ---------------------------------------------------------------------------------------------------------------------
# The paper's models (ynklab/CULNIG README, "Available models"), text decoder shapes from their public config.json files.
# Keys follow config.json: layers=num_hidden_layers, hidden=hidden_size, mlp=intermediate_size, heads=num_attention_heads,
# kv_heads=num_key_value_heads, head_dim=head_dim, vocab=vocab_size, tied=tie_word_embeddings. `norms` = hidden-size norm
# vectors per layer, `qk_norm` = per-head q/k norms (head_dim each), `vision` = parameters outside the text decoder held
# in the checkpoint (Gemma 3's SigLIP encoder and projector; approximate, from vision_config). Where a value could not be
# checked against a copy of the config, `unverified` says which and why; the printed table repeats it.
# Sources (GitHub copies found with the project's code search; the hub itself is unreachable from here):
#   [maxtext]  AI-Hypercomputer/maxtext src/MaxText/utils/ckpt_conversion/utils/hf_model_configs.py
#              (commit 02b47fd815659b2d3119206cb25c05b5a0a74dbc): "architectural configurations of the Hugging Face
#              version" -- gemma3_12b_config, gemma3_27b_config (text_config), qwen3_14b_config, llama31_8b_config.
#   [keras]    keras-team/keras-hub keras_hub/src/models/gemma3/gemma3_presets.py: text-only parameter counts
#              gemma3_instruct_12b_text 11,765,788,416 and gemma3_instruct_27b_text 27,009,002,240 (vocab 262144);
#              the formula below reproduces both exactly (checked at start-up).
#   [g27-hub]  a verbatim copy of google/gemma-3-27b-it config.json in a test file (num_hidden_layers edited), showing that
#              the hub text_config sets head_dim/hidden/intermediate/heads/kv_heads but no vocab_size, so the
#              transformers default Gemma3TextConfig.vocab_size = 262208 applies (checked in the installed transformers).
#   [oumi]     oumi-ai/oumi configs/recipes/llama3_1/README.md: Llama 3.1 8B vocab 128256, hidden 4096, MLP 14336,
#              32 layers, 32 heads, 8 KV heads, weight tying False.
#   [phi4]     microsoft/phi-4 config.json (hub revision 2db69c1c3e91a05d2c64a3185acfbaf36f744e25 as cited by one copy),
#              quoted in full by two public GitHub files and in part by two more; the search tool did not name their
#              repositories. head_dim is not in the file: Phi3Config uses hidden_size / num_attention_heads = 128.
#   [falcon3]  tiiuae/Falcon3-10B-Base config.json (hub revision 34bb99a889fe0426412da3dd2b46e6f64c8fd003 as cited by a
#              public GitHub file) and two more GitHub copies of the Falcon3-10B shapes. The paper uses
#              tiiuae/Falcon3-10B-Instruct, a fine-tune of the Base model with the same shapes (assumed, not seen).

def siglip_params(text_hidden: int, hidden=1152, inter=4304, layers=27, patch=14, image=896, channels=3) -> int:
    "Gemma 3's SigLIP vision encoder (vision_config in [maxtext]) plus its projection into the text model (approximate)."
    layer = 4 * (hidden * hidden + hidden) + 2 * hidden * inter + inter + hidden + 4 * hidden
    embed = channels * patch * patch * hidden + hidden + (image // patch) ** 2 * hidden
    return layers * layer + embed + 2 * hidden + hidden * text_hidden + hidden

PAPER_MODELS = [
    dict(name='Gemma-3-12B', hub='google/gemma-3-12b-it', arch='gemma3', layers=48, hidden=3840, mlp=15360, heads=16,
         kv_heads=8, head_dim=256, vocab=262208, tied=True, norms=4, qk_norm=True, vision=siglip_params(3840),
         source='[maxtext] gemma3_12b_config; totals [keras]; vocab: transformers default (see [g27-hub])',
         unverified='vocab 262208 is the transformers default the hub config relies on ([maxtext]/[keras] use 262144); '
                    'tie_word_embeddings not in the config (Gemma3TextConfig default True)'),
    dict(name='Gemma-3-27B', hub='google/gemma-3-27b-it', arch='gemma3', layers=62, hidden=5376, mlp=21504, heads=32,
         kv_heads=16, head_dim=128, vocab=262208, tied=True, norms=4, qk_norm=True, vision=siglip_params(5376),
         source='[maxtext] gemma3_27b_config and [g27-hub]; totals [keras]',
         unverified='tie_word_embeddings not in the config (Gemma3TextConfig default True)'),
    dict(name='Qwen3-14B', hub='Qwen/Qwen3-14B', arch='qwen3', layers=40, hidden=5120, mlp=17408, heads=40, kv_heads=8,
         head_dim=128, vocab=151936, tied=False, norms=2, qk_norm=True, vision=0,
         source='[maxtext] qwen3_14b_config', unverified=''),
    dict(name='Llama-3.1-8B', hub='meta-llama/Llama-3.1-8B-Instruct', arch='llama', layers=32, hidden=4096, mlp=14336,
         heads=32, kv_heads=8, head_dim=128, vocab=128256, tied=False, norms=2, qk_norm=False, vision=0,
         source='[maxtext] llama31_8b_config and [oumi]', unverified=''),
    dict(name='Phi-4', hub='microsoft/phi-4', arch='phi3', layers=40, hidden=5120, mlp=17920, heads=40, kv_heads=10,
         head_dim=128, vocab=100352, tied=False, norms=2, qk_norm=False, vision=0,
         source='[phi4]', unverified='copies of the config only (repositories not named by the search tool); '
                                     'head_dim derived (5120/40)'),
    dict(name='Falcon3-10B', hub='tiiuae/Falcon3-10B-Instruct', arch='llama', layers=40, hidden=3072, mlp=23040,
         heads=12, kv_heads=4, head_dim=256, vocab=131072, tied=False, norms=2, qk_norm=False, vision=0,
         source='[falcon3]', unverified='values from the Base model config; tie_word_embeddings not seen in any copy '
                                        '(LlamaConfig default False assumed)'),
]
KERAS_TEXT_PARAMS = {'Gemma-3-12B': 11_765_788_416, 'Gemma-3-27B': 27_009_002_240}   # [keras], vocab 262144

# The assumptions of part 3. Change them here (or --util) and rerun.
ASSUMPTIONS = dict(
    h100_bf16_dense_flops=989e12,     # H100 SXM, bf16 dense tensor-core peak
    utilisation=0.3,                  # U: fraction of the peak reached (small batches of ~1k tokens, hooks, aggregation)
    h100_memory_bytes=80e9,           # H100 80 GB
    reserved_bytes=6e9,               # per GPU: CUDA context, allocator fragmentation, NCCL buffers, logits and softmax
    hbm_bytes_per_s=3.35e12,          # H100 SXM HBM3 bandwidth, for generation (BLEnD short answers), which is memory-bound
    hbm_efficiency=0.5,               # fraction of that bandwidth a decode step reaches
    gpu_counts=(1, 2, 4, 8),
    score_batch=(16, 128),            # the batch the activation column is given for (the original code's 16 prompts)
    score_batch_tokens=1024,          # padded tokens per scoring batch assumed here (`culnig score --batch-tokens 1024`; its
                                      # default 'auto' picks 256-8192 from the device's memory); the time table
                                      # uses the GPU count this batch needs
    score_datasets=3, score_countries=16,   # score accumulator rows: blend, blendcontrol, countryrc x 16 countries
    eval_batch_tokens=8192,           # `culnig evaluate` default
    saq_batch=32, saq_new_tokens=64,  # generation: max_batch // 2 prompts per batch, DEFAULT_MAX_NEW_TOKENS (upper bound)
    act_bytes=2,                      # bf16 activations on GPUs
)

SCORING_WORKLOAD = [('blend', 'neuron'), ('blendcontrol', 'neuron'), ('countryrc', 'neuron')]   # `culnig score` defaults
EVAL_WORKLOAD = ['blend', 'blend_saq', 'culturalbench', 'normad', 'worldvaluesbench', 'countryrc', 'commonsenseqa',
                 'qnli', 'mrpc']                                                                 # every benchmark, once


# ---------------------------------------------------------------------------------------------------------------------
# Shapes, parameters, memory

def widths(c: dict) -> dict:
    "Output widths of the scored sites: q = heads*head_dim, k = v = kv_heads*head_dim (not always the hidden size)."
    q, kv = c['heads'] * c['head_dim'], c['kv_heads'] * c['head_dim']
    return dict(gate=c['mlp'], up=c['mlp'], q=q, k=kv, v=kv)

def layer_params(c: dict) -> int:
    "One decoder layer: q/k/v/o projections, gated MLP (gate, up, down), norms; no biases in these six models."
    w, h = widths(c), c['hidden']
    attn = h * (w['q'] + w['k'] + w['v']) + w['q'] * h
    mlp = 3 * h * c['mlp']
    norms = c['norms'] * h + (2 * c['head_dim'] if c['qk_norm'] else 0)
    return attn + mlp + norms

def params(c: dict) -> dict:
    "N (non-embedding: layers + final norm), embedding parameters, text total, checkpoint total (with `vision`)."
    n = c['layers'] * layer_params(c) + c['hidden']
    emb = c['vocab'] * c['hidden'] * (1 if c['tied'] else 2)
    return dict(N=n, embedding=emb, text=n + emb, checkpoint=n + emb + c.get('vision', 0))

def neurons(c: dict) -> tuple[int, int]:
    "(scored: layers x (2*mlp + q + k + v), selection pool: layers x (mlp + q + k + v))."
    w = widths(c)
    return c['layers'] * (2 * c['mlp'] + w['q'] + w['k'] + w['v']), c['layers'] * (c['mlp'] + w['q'] + w['k'] + w['v'])

def accumulator_bytes(c: dict, a=ASSUMPTIONS) -> int:
    "float32 sums [datasets x countries, layers, width] for every scored site."
    return 4 * a['score_datasets'] * a['score_countries'] * neurons(c)[0]

def activation_bytes(c: dict, tokens: int, a=ASSUMPTIONS) -> int:
    """Activation memory of one scoring batch of `tokens` tokens at its peak (ESTIMATE). Per token and layer:
    2*(2*mlp + q + k + v) values -- culnig's hooks keep every site output (gate, up, q, k, v) for a*g, and
    `torch.autograd.grad` returns all their gradients at once, so both are held at the end of the backward -- plus
    4*hidden for norm inputs and the residual stream; the frozen-weight linears save no inputs. Plus one float32
    workspace for a*g of the widest hooked module output (gate_up fused in Phi-4)."""
    w = widths(c)
    per = 2 * (2 * c['mlp'] + w['q'] + w['k'] + w['v']) + 4 * c['hidden']
    fused = c['arch'] == 'phi3'                     # Phi-3/4: gate_up_proj = [gate | up], qkv_proj = [q | k | v]
    widest = max(2 * c['mlp'], w['q'] + w['k'] + w['v']) if fused else max(c['mlp'], w['q'])
    return tokens * (c['layers'] * per * a['act_bytes'] + widest * 4)

def eval_extra_bytes(c: dict, saq_len: float, a=ASSUMPTIONS) -> int:
    "Evaluation beyond the weights: one layer's MLP intermediates for a full batch, and the KV cache of a generation batch."
    w = widths(c)
    mlp = a['eval_batch_tokens'] * 3 * c['mlp'] * a['act_bytes']
    kv = a['saq_batch'] * (saq_len + a['saq_new_tokens']) * c['layers'] * (w['k'] + w['v']) * a['act_bytes']
    return int(mlp + kv)

def gpus_per_replica(need: float, a=ASSUMPTIONS) -> int:
    return max(1, math.ceil(need / (a['h100_memory_bytes'] - a['reserved_bytes'])))


# ---------------------------------------------------------------------------------------------------------------------
# FLOPs

def score_flops(n_params: int, vocab: int, hidden: int, tokens: float, prompts: int) -> float:
    "Forward (2N) + activation-only backward (~2N) per token; the LM head at the last position, forward and backward."
    return 4 * n_params * tokens + 4 * vocab * hidden * prompts

def eval_flops(n_params: int, vocab: int, hidden: int, tokens: float, prompts: int) -> float:
    "Forward only (2N per token); the LM head at the last position."
    return 2 * n_params * tokens + 2 * vocab * hidden * prompts


# ---------------------------------------------------------------------------------------------------------------------
# Part 1: measurement

def machine() -> dict:
    import torch
    try: model_name = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): model_name = platform.processor() or 'unknown'
    return dict(cpu=model_name, cpu_count=os.cpu_count(), affinity=len(os.sched_getaffinity(0)),
                torch_threads=torch.get_num_threads(), torch=torch.__version__, load=os.getloadavg())

def model_params(model) -> dict:
    "N and the embedding parameters of a loaded model (tied LM head counted once)."
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen: seen.add(id(p)); total += p.numel()
    untied = head is not None and head.weight is not emb
    n_emb = emb.numel() + (head.weight.numel() if untied else 0)
    return dict(N=total - n_emb, embedding=n_emb, total=total)

def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c

def measure(args) -> dict:
    import torch
    from culnig.data import build_prompts
    from culnig.evaluation import evaluate
    from culnig.models import load_model
    from culnig.scoring import encode_records, plan_batches, resolve_batch_tokens, score_prompts
    if args.threads: torch.set_num_threads(args.threads)
    model, tok = load_model('smollm2-135m-instruct', device='cpu')
    cfg = model.config
    recs = build_prompts('blend', tok, split='neuron', countries=args.countries, limit_per_country=args.per_country)
    lengths = [len(s) for s in encode_records(tok, recs)]
    tokens = sum(lengths)
    bt = args.batch_tokens or resolve_batch_tokens(model)        # culnig's default: 'auto', from the device's memory
    padded_score = sum(len(b) * max(lengths[i] for i in b) for b in plan_batches(lengths, bt))
    padded_eval = sum(len(b) * max(lengths[i] for i in b) for b in plan_batches(lengths, 8192, 64))
    load_before = os.getloadavg()
    runs = dict(score=[], evaluate=[])
    also = [b for b in (args.also_batch_tokens or []) if b != bt]
    for b in also: runs[f'score@{b}'] = []
    for _ in range(args.repeats):          # alternate, so that a change of load hits all alike
        _, w, c = timed(lambda: score_prompts(model, tok, recs, batch_tokens=bt, show_progress=False))
        runs['score'].append((w, c))
        _, w, c = timed(lambda: evaluate(model, tok, recs, show_progress=False))
        runs['evaluate'].append((w, c))
        for b in also:                     # the same scoring with another budget (default: the former fixed 1024)
            _, w, c = timed(lambda: score_prompts(model, tok, recs, batch_tokens=b, show_progress=False))
            runs[f'score@{b}'].append((w, c))
    load_after = os.getloadavg()
    if args.profile:                       # where the time goes: torch.profiler over one run of each pass
        from torch.profiler import profile, ProfilerActivity
        for name, fn in (('scoring', lambda: score_prompts(model, tok, recs, batch_tokens=bt, show_progress=False)),
                         ('evaluation', lambda: evaluate(model, tok, recs, show_progress=False))):
            c0 = time.process_time()
            with profile(activities=[ProfilerActivity.CPU]) as prof: fn()
            ka = prof.key_averages()
            tot = sum(e.self_cpu_time_total for e in ka)
            mm = sum(e.self_cpu_time_total for e in ka if e.key in ('aten::mm', 'aten::bmm', 'aten::addmm'))
            print(f"profile of {name} ({time.process_time() - c0:.1f} CPU s; profiler self time {tot / 1e6:.1f} s, "
                  f"matrix products {mm / tot:.0%}, {sum(e.count for e in ka)} operator calls):")
            print(ka.table(sort_by='self_cpu_time_total', row_limit=args.profile, max_name_column_width=60))
    p = model_params(model)
    out = dict(model='smollm2-135m-instruct', dtype=str(next(model.parameters()).dtype).replace('torch.', ''),
               countries=list(args.countries), per_country=args.per_country, prompts=len(recs), tokens=tokens,
               padded_tokens_score=padded_score, padded_tokens_eval=padded_eval, batch_tokens_score=bt,
               repeats=args.repeats, runs=runs, load_before=load_before, load_after=load_after, params=p,
               vocab=cfg.vocab_size, hidden=cfg.hidden_size, machine=machine())
    for kind, flops_fn in (('score', score_flops), ('evaluate', eval_flops)):
        wall, cpu = min(runs[kind])                     # the fastest run (by wall clock)
        flops = flops_fn(p['N'], cfg.vocab_size, cfg.hidden_size, tokens, len(recs))
        out[kind] = dict(wall_s=wall, cpu_s=cpu, tokens_per_s=tokens / wall, s_per_1k_tokens=1000 * wall / tokens,
                         tokens_per_cpu_s=tokens / cpu, flops=flops, flops_per_token=flops / tokens,
                         effective_flops_per_s=flops / wall, effective_flops_per_cpu_s=flops / cpu)
    # the formula for this model too, as a check of the shape bookkeeping used for the paper models
    c = dict(arch='llama', layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, mlp=cfg.intermediate_size,
             heads=cfg.num_attention_heads, kv_heads=cfg.num_key_value_heads,
             head_dim=getattr(cfg, 'head_dim', None) or cfg.hidden_size // cfg.num_attention_heads, vocab=cfg.vocab_size,
             tied=bool(getattr(cfg, 'tie_word_embeddings', False)), norms=2, qk_norm=False)
    out['formula_N'] = params(c)['N']
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Workload sizes from culnig.data

def workload(exact: bool) -> dict:
    "Prompt counts (exact) and mean token lengths (a 1-in-k sample of about 500 prompts per dataset, or all with `exact`)."
    from culnig.core import DataFileMissing
    from culnig.data import build_prompts
    from culnig.models import load_tokenizer
    from culnig.scoring import encode_records
    tok = load_tokenizer('smollm2-135m-instruct')
    def stats(dataset, **kw):
        recs = build_prompts(dataset, tok, **kw)
        step = 1 if exact else max(1, len(recs) // 500)
        sample = recs[::step]
        L = [len(s) for s in encode_records(tok, sample)]
        saq = sum(bool(r.get('answers')) and not r.get('options') for r in recs)
        return dict(dataset=dataset, split=kw.get('split') or 'all', prompts=len(recs), mean_tokens=sum(L) / len(L),
                    sampled=len(sample), generation=saq)
    from culnig.core import TARGET_COUNTRIES
    score = [stats(d, split=s, countries=list(TARGET_COUNTRIES) if d == 'countryrc' else None) for d, s in SCORING_WORKLOAD]
    ev, missing = [], []
    for d in EVAL_WORKLOAD:
        try: ev.append(stats(d))
        except DataFileMissing as e: missing.append(dict(dataset=d, reason=str(e).splitlines()[0]))
    return dict(tokenizer='smollm2-135m-instruct', score=score, evaluate=ev, missing=missing, sampled=not exact)


# ---------------------------------------------------------------------------------------------------------------------
# Part 3: estimates

def estimate(c: dict, wl: dict, a=ASSUMPTIONS) -> dict:
    p = params(c)
    scored, pool = neurons(c)
    w = widths(c)
    weights = 2 * p['checkpoint']
    acc = accumulator_bytes(c, a)
    act = activation_bytes(c, a['score_batch'][0] * a['score_batch'][1], a)
    act_default = activation_bytes(c, a['score_batch_tokens'], a)
    gpu = a['h100_bf16_dense_flops'] * a['utilisation']
    s_tok = sum(x['prompts'] * x['mean_tokens'] for x in wl['score'])
    s_n = sum(x['prompts'] for x in wl['score'])
    s_flops = score_flops(p['N'], c['vocab'], c['hidden'], s_tok, s_n)
    cls = [x for x in wl['evaluate'] if not x['generation']]
    gen = [x for x in wl['evaluate'] if x['generation']]
    e_tok = sum(x['prompts'] * x['mean_tokens'] for x in wl['evaluate'])
    e_n = sum(x['prompts'] for x in wl['evaluate'])
    e_flops = eval_flops(p['N'], c['vocab'], c['hidden'], e_tok, e_n)
    n_gen = sum(x['generation'] for x in gen)
    saq_len = (sum(x['prompts'] * x['mean_tokens'] for x in gen) / n_gen) if n_gen else 0.0
    decode_steps = math.ceil(n_gen / a['saq_batch']) * a['saq_new_tokens']
    decode_s = decode_steps * weights / (a['hbm_bytes_per_s'] * a['hbm_efficiency'])
    gpr_score_16x128 = gpus_per_replica(weights + acc + act, a)
    gpr_score = gpus_per_replica(weights + acc + act_default, a)
    gpr_eval = gpus_per_replica(weights + eval_extra_bytes(c, saq_len, a), a)
    t_score, t_eval = {}, {}
    for g in a['gpu_counts']:
        rs, re_ = g // gpr_score, g // gpr_eval
        t_score[g] = s_flops / (rs * gpu) if rs else None
        t_eval[g] = (e_flops / gpu + decode_s) / re_ if re_ else None
    return dict(name=c['name'], hub=c['hub'], params=p, widths=w, scored=scored, pool=pool, weights_bytes=weights,
                accumulator_bytes=acc, activation_bytes=act, activation_bytes_default=act_default,
                gpus_per_replica_score=gpr_score, gpus_per_replica_score_16x128=gpr_score_16x128,
                score_memory_default=weights + acc + act_default, score_memory_16x128=weights + acc + act,
                gpus_per_replica_eval=gpr_eval, score_flops=s_flops, eval_flops=e_flops, decode_s_one_gpu=decode_s,
                score_s=t_score, eval_s=t_eval, unverified=c['unverified'], source=c['source'],
                score_gflop_per_token=4 * p['N'] / 1e9, eval_gflop_per_token=2 * p['N'] / 1e9)


def check_formula():
    "The parameter formula reproduces keras-hub's Gemma 3 text parameter counts exactly (vocab 262144 there)."
    for c in PAPER_MODELS:
        if c['name'] in KERAS_TEXT_PARAMS:
            got = params(dict(c, vocab=262144))['text']
            assert got == KERAS_TEXT_PARAMS[c['name']], (c['name'], got, KERAS_TEXT_PARAMS[c['name']])


# ---------------------------------------------------------------------------------------------------------------------
# Printing

def gb(x): return f"{x / 1e9:.1f} GB"
def bn(x): return f"{x / 1e9:.2f} B"
def mn(x): return f"{x / 1e6:.2f} M"
def dur(s):
    if s is None: return '—'
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"

def print_measured(m: dict):
    mc = m['machine']
    print(f"## Measured on this CPU ({m['model']}, {m['dtype']})\n")
    print(f"machine: {mc['cpu']}; os.cpu_count() {mc['cpu_count']}, usable cores {mc['affinity']}, torch threads "
          f"{mc['torch_threads']}, torch {mc['torch']}")
    print(f"load average (1/5/15 min) before {tuple(round(x, 1) for x in m['load_before'])}, "
          f"after {tuple(round(x, 1) for x in m['load_after'])}  (a load above the core count means shared cores)")
    print(f"records: first {m['per_country']} BLEnD neuron-split items of {', '.join(m['countries'])}: {m['prompts']} prompts, "
          f"{m['tokens']} prompt tokens (padded: {m['padded_tokens_score']} in scoring batches of {m['batch_tokens_score']} "
          f"tokens, {m['padded_tokens_eval']} in evaluation batches)")
    print(f"N (non-embedding parameters) {m['params']['N']:,} (formula: {m['formula_N']:,}); embedding {m['params']['embedding']:,}\n")
    print("| pass | runs (wall s / CPU s) | fastest: tokens/s | s per 1k tokens | tokens per CPU-s | FLOPs/token | effective FLOP/s (wall) | per CPU-s |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, label in (('score', 'scoring (`score_prompts`)'), ('evaluate', 'evaluation (`evaluate`, classification)')):
        r = m[kind]
        runs = ', '.join(f"{w:.1f}/{c:.1f}" for w, c in m['runs'][kind])
        print(f"| {label} | {runs} | {r['tokens_per_s']:.1f} | {r['s_per_1k_tokens']:.1f} | {r['tokens_per_cpu_s']:.1f} | "
              f"{r['flops_per_token'] / 1e6:.0f} M | {r['effective_flops_per_s'] / 1e9:.1f} GFLOP/s | "
              f"{r['effective_flops_per_cpu_s'] / 1e9:.1f} GFLOP/s |")
    ratio = m['score']['wall_s'] / m['evaluate']['wall_s']
    sw, sc = (sum(x[i] for x in m['runs']['score']) for i in (0, 1))
    ew, ec = (sum(x[i] for x in m['runs']['evaluate']) for i in (0, 1))
    print(f"\nscoring / evaluation time per token: {ratio:.2f} (fastest runs, wall clock; the FLOP model says 2.0); "
          f"all {len(m['runs']['score'])} interleaved runs: wall {sw / ew:.2f}, process CPU time {sc / ec:.2f}")
    for k, v in m['runs'].items():
        if k.startswith('score@'):
            print(f"  the same scoring with batch_tokens={k[6:]} (runs {', '.join(f'{w:.1f}/{c:.1f}' for w, c in v)}): fastest "
                  f"{min(v)[0] / m['evaluate']['wall_s']:.2f}; all runs: wall {sum(x[0] for x in v) / ew:.2f}, "
                  f"process CPU time {sum(x[1] for x in v) / ec:.2f}")
    print()

def print_workload(wl: dict):
    print(f"## Workload (from culnig.data, tokenizer {wl['tokenizer']}; prompt counts exact, mean lengths "
          f"{'from a 1-in-k sample of about 500 prompts per dataset' if wl['sampled'] else 'over every prompt'})\n")
    print("| pass | dataset | split | prompts | mean tokens | tokens |")
    print("|---|---|---|---|---|---|")
    for kind in ('score', 'evaluate'):
        for x in wl[kind]:
            gen = f" (+ up to {ASSUMPTIONS['saq_new_tokens']} generated)" if x['generation'] else ''
            print(f"| {kind} | {x['dataset']} | {x['split']} | {x['prompts']:,} | {x['mean_tokens']:.1f}{gen} | "
                  f"{x['prompts'] * x['mean_tokens'] / 1e6:.2f} M |")
        tot = sum(x['prompts'] * x['mean_tokens'] for x in wl[kind])
        print(f"| {kind} | **total** | | {sum(x['prompts'] for x in wl[kind]):,} | | {tot / 1e6:.2f} M |")
    for x in wl['missing']: print(f"\nnot included: {x['dataset']} ({x['reason']})")
    print()

def print_estimates(est: list, m: dict | None, a=ASSUMPTIONS):
    print("## ESTIMATES for the paper's models (not measured)\n")
    print(f"Assumptions: an H100 reaches U = {a['utilisation']} of {a['h100_bf16_dense_flops'] / 1e12:.0f} TFLOP/s bf16 dense "
          f"({a['utilisation'] * a['h100_bf16_dense_flops'] / 1e12:.0f} TFLOP/s); scoring 4N FLOPs/token, evaluation 2N "
          f"(+ LM head at the last position); {a['h100_memory_bytes'] / 1e9:.0f} GB per GPU with "
          f"{a['reserved_bytes'] / 1e9:.0f} GB reserved; data-parallel scaling is perfect; a model that needs k GPUs "
          f"(device_map) forms one replica of k GPUs running at one GPU's speed; BLEnD short-answer generation is "
          f"memory-bound: {a['saq_new_tokens']} steps per batch of {a['saq_batch']}, each reading the weights at "
          f"{a['hbm_efficiency']:.0%} of {a['hbm_bytes_per_s'] / 1e12:.2f} TB/s.\n")
    print("| model | hub id | params (checkpoint) | N non-emb. | layers | hidden | MLP | q / k / v | neurons scored | selection pool | GFLOP/token score / eval |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in est:
        w, c = e['widths'], next(x for x in PAPER_MODELS if x['name'] == e['name'])
        print(f"| {e['name']}{' *' if e['unverified'] else ''} | {e['hub']} | {bn(e['params']['checkpoint'])} | {bn(e['params']['N'])} | "
              f"{c['layers']} | {c['hidden']} | {c['mlp']} | {w['q']} / {w['k']} / {w['v']} | {mn(e['scored'])} | "
              f"{mn(e['pool'])} | {e['score_gflop_per_token']:.1f} / {e['eval_gflop_per_token']:.1f} |")
    print()
    B, T = a['score_batch']
    bt = a['score_batch_tokens']
    print(f"| model | bf16 weights | score accumulator (fp32, {a['score_datasets']}x{a['score_countries']} rows) | "
          f"activations, one {B}x{T}-token scoring batch | total, {B}x{T} batch: GPUs/replica | "
          f"activations at --batch-tokens {bt} | total, {bt}-token batch: GPUs/replica | evaluation: GPUs/replica |")
    print("|---|---|---|---|---|---|---|---|")
    for e in est:
        print(f"| {e['name']} | {gb(e['weights_bytes'])} | {gb(e['accumulator_bytes'])} | {gb(e['activation_bytes'])} | "
              f"{gb(e['score_memory_16x128'])}: {e['gpus_per_replica_score_16x128']} | {gb(e['activation_bytes_default'])} | "
              f"{gb(e['score_memory_default'])}: {e['gpus_per_replica_score']} | {e['gpus_per_replica_eval']} |")
    print(f"\nA GPU holds {(a['h100_memory_bytes'] - a['reserved_bytes']) / 1e9:.0f} GB here. Activations scale with the "
          f"batch: lowering --batch-tokens fits a model on fewer GPUs before device_map is needed. The times below use "
          f"the {bt}-token batch (culnig's default) and its GPU count.\n")
    gs = a['gpu_counts']
    print("| model | scoring FLOPs | " + ' | '.join(f"scoring, {g} H100" for g in gs) + " | evaluation FLOPs | "
          + ' | '.join(f"evaluation, {g} H100" for g in gs) + " |")
    print("|---|---|" + "---|" * len(gs) + "---|" + "---|" * len(gs))
    for e in est:
        print(f"| {e['name']} | {e['score_flops']:.2e} | " + ' | '.join(dur(e['score_s'][g]) for g in gs)
              + f" | {e['eval_flops']:.2e} | " + ' | '.join(dur(e['eval_s'][g]) for g in gs) + " |")
    print("\n— : fewer GPUs than one replica needs.")
    notes = [e for e in est if e['unverified']]
    if notes:
        print("\n* values not verified against the hub config itself:")
        for e in notes: print(f"  - {e['name']}: {e['unverified']}")
    print("\nsources of the config values: see PAPER_MODELS in bench/cost.py")
    for e in est: print(f"  - {e['name']}: {e['source']}")
    if m:
        s_tok = sum(x['prompts'] * x['mean_tokens'] for x in WL['score'])
        print(f"\nFor scale: the same scoring workload ({s_tok / 1e6:.2f} M tokens) with {m['model']} on this CPU at the measured "
              f"{m['score']['tokens_per_s']:.1f} tokens/s would take {dur(s_tok / m['score']['tokens_per_s'])}.")


WL = None

def main():
    global WL
    from culnig.core import PAPER_COUNTRIES
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='2 prompts per country')
    ap.add_argument('--exact-lengths', action='store_true', help='tokenise every workload prompt (about a minute more)')
    ap.add_argument('--per-country', type=int, help='BLEnD items per country (default 8; --quick 2)')
    ap.add_argument('--countries', nargs='+', default=list(PAPER_COUNTRIES[:4]))
    ap.add_argument('--repeats', type=int, default=2, help='runs of each pass; the fastest is reported (default 2)')
    ap.add_argument('--threads', type=int, help='torch threads (default: torch\'s)')
    ap.add_argument('--batch-tokens', type=int, help="scoring's batch budget (default: culnig's, 'auto' from the device's memory)")
    ap.add_argument('--profile', type=int, nargs='?', const=15, default=0,
                    help='also profile one run of each pass with torch.profiler and print its top N operators (default 15)')
    ap.add_argument('--also-batch-tokens', type=int, nargs='*', default=[1024],
                    help='also time scoring with these budgets, interleaved (default: 1024, the former fixed default; none: no value)')
    ap.add_argument('--util', type=float, default=ASSUMPTIONS['utilisation'], help='assumed H100 utilisation U (default 0.3)')
    ap.add_argument('--no-measure', action='store_true', help='only the estimates (no CPU timing)')
    ap.add_argument('--json', help='also write every number to this JSON file')
    args = ap.parse_args()
    args.per_country = args.per_country or (2 if args.quick else 8)
    ASSUMPTIONS['utilisation'] = args.util
    check_formula()
    t0 = time.perf_counter()
    m = None if args.no_measure else measure(args)
    if m: print_measured(m)
    WL = workload(args.exact_lengths)
    print_workload(WL)
    est = [estimate(c, WL) for c in PAPER_MODELS]
    print_estimates(est, m)
    print(f"\n(bench/cost.py ran {time.perf_counter() - t0:.0f} s)")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(measured=m, workload=WL, assumptions=ASSUMPTIONS, estimates=est), f, indent=1, default=str)


if __name__ == '__main__':
    main()
