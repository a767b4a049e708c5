"""Layer benchmark of the solvers: time, relative error and achieved FLOP/s of RTN, GPTQ, the per-column QuantEase loop,
blocked QuantEase and `quantease.fast` (plus its Triton kernel on a GPU), on synthetic and real SmolLM2 layers.

One run prints ONE table and writes JSON. FLOP/s count 2·rows·cols² per sweep (one rank-one update per coordinate,
the paper's cost), against the rate of a large matrix product timed in the same run (`peak`), so that a loaded
machine is measured against itself. `loop/x` is how many times faster a method is than the per-column loop, and
`dobj` the relative difference of its final objective from the loop's.

    python bench/layers.py [--device cpu|cuda] [--shapes 576x576,1536x576,576x1536,4096x4096 | smollm | llama | all]
                           [--source synthetic,smollm2] [--methods rtn,gptq,loop,blocked,fast,fast-torch,triton,triton-tf32]
                           [--sweeps 30] [--loop-sweeps K] [--bits 4] [--threads N] [--tokens 2048]
                           [--nsamples 16 --seqlen 512 --layer-block 15] [--out runs/layers.json]

Methods are entries of the method table (`quantease.methods.METHODS`), optionally with options: `--methods
gptq,quantease[schedule=round,block=1]`; the short names in `PRESETS` stand for common specs: `loop` = the per-column loop
of the paper (`backend=reference, block=1`), `blocked` = the readable blocked loop, `fast` = `quantease` with its default
backend (CPU: compiled in-block kernel; CUDA: Triton), `fast-torch`, `fast-r0` (no exact refresh of P), `triton`,
`triton-tf32` (CUDA only), `qe-round` and `qe-ref` (the old default and the authors' schedule), `gptq-qe`, `qe-o1` and
`qe-o1s` (1% outliers, unstructured / whole columns).

`--loop-sweeps K` times the per-column loop and blocked QuantEase on K sweeps only and scales their times to `--sweeps`
(marked `~`; their cost per sweep is constant, unlike `fast`'s); `dobj` then compares against `fast` (whose iterates
equal blocked QuantEase's with the default `refresh=1`). The table shows wall time and this process's CPU time: on a
shared machine the CPU time is the steadier measure of the work. `fast-r0` is `fast` with `refresh=0`. On CPU set the
threads explicitly (`--threads`, default: all cores); on a shared machine run it under `nice`.
"""
import argparse, json, math, os, platform, sys, time
from pathlib import Path
import torch

SHAPES = {'smollm': ['576x576', '1536x576', '576x1536'], 'llama': ['4096x4096', '11008x4096', '4096x11008']}
SHAPES['all'] = SHAPES['smollm'] + SHAPES['llama']
SMOLLM_LAYER = {(576, 576): 'self_attn.q_proj', (1536, 576): 'mlp.gate_proj', (576, 1536): 'mlp.down_proj'}


def sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


def matmul_rate(device, n=None, reps=3):
    "Best measured float32 rate (FLOP/s) of an n×n×n matrix product on `device`, TF32 off."
    dev = torch.device(device)
    n = n or (8192 if dev.type == 'cuda' else 2048)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    if dev.type == 'cuda': torch.backends.cuda.matmul.allow_tf32 = False
    a @ b; sync(device)
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter(); a @ b; sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def synthetic(rows, cols, tokens=2048, seed=0, device='cpu'):
    "W [rows, cols] and H = XᵀX/n for heavy-tailed (Student-t) activations with shared directions and outlier channels."
    g = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    X = torch.randn(tokens, cols, generator=g) + 0.5 * torch.randn(tokens, 8, generator=g) @ torch.randn(8, cols, generator=g)
    X *= torch.exp(torch.randn(cols, generator=g))                     # a few channels far larger than the rest
    X *= torch.distributions.StudentT(3.).sample((tokens, 1)).abs()    # heavy-tailed tokens
    W = torch.randn(rows, cols, generator=g) * 0.02
    X = X.to(device)
    return W.to(device), X.T @ X / tokens


def smollm2_layers(shapes, nsamples, seqlen, layer_block, data_dir=None):
    "{(rows, cols): (name, W, H)} for SmolLM2-135M block `layer_block`, H from c4 calibration activations (pre-hooks)."
    from quantease.models import load_model, find_blocks, find_linears
    from quantease.data import calibration
    from quantease.hessian import Hessian
    model, tok = load_model('smollm2-135m')
    path, blocks = find_blocks(model)
    lins = find_linears(blocks[layer_block])
    want = {s: SMOLLM_LAYER[s] for s in shapes if s in SMOLLM_LAYER}
    hs = {s: Hessian(lins[name].in_features) for s, name in want.items()}
    def hook(s):
        def f(module, args): hs[s].add(args[0])      # returns None: the layer's input stays as it is
        return f
    hooks = [lins[name].register_forward_pre_hook(hook(s)) for s, name in want.items()]
    data_dir = data_dir or os.environ.get('QUANTEASE_DATA') or '/work/shared/data'
    calib = calibration('c4', tok, nsamples=nsamples, seqlen=seqlen, data_dir=data_dir)
    with torch.no_grad():
        for ids in calib:
            model(ids[None])
    for h in hooks: h.remove()
    return {s: (f'{path}.{layer_block}.{name}', lins[name].weight.data.clone(), hs[s].H) for s, name in want.items()}


PRESETS = {   # short names for method specs "name[option=value,...]" of the method table (quantease.methods)
    'loop': 'quantease[backend=reference,block=1]', 'blocked': 'quantease[backend=reference]', 'fast': 'quantease',
    'fast-torch': 'quantease[backend=torch]', 'fast-r0': 'quantease[refresh=0]', 'fast-r1': 'quantease[refresh=1]',
    'triton': 'quantease[backend=triton,block=64]', 'triton-tf32': 'quantease[backend=triton,block=64,tf32=1]',
    'qe-round': 'quantease[schedule=round,percdamp=0.01,shrink=0]', 'qe-ref': 'quantease[schedule=reference,percdamp=0,shrink=0]',
    'gptq-qe': 'gptq_quantease', 'qe-o1': 'quantease[outlier=0.01]', 'qe-o1s': 'quantease[outlier=0.01,structured=1]',
}


def parse_spec(spec):
    "(method name, {option: value}) of a spec 'name' or 'name[k=v,...]' (or a preset)."
    spec = PRESETS.get(spec, spec)
    name, _, rest = spec.partition('[')
    opts = dict(kv.split('=', 1) for kv in rest.rstrip(']').split(',') if kv) if rest else {}
    return name, opts


def run_method(method, W, H, grid, sweeps, loop_sweeps, threads):
    "Run one method spec; return (Quantized, wall seconds, process CPU seconds (both for `sweeps`), extrapolated?)."
    from quantease.methods import get_method
    name, given = parse_spec(method)
    m = get_method(name)
    takes = {f.name for f in __import__('dataclasses').fields(m.options)}
    scale, approx = 1.0, False
    if 'num_iter' in takes and 'num_iter' not in given:
        k = loop_sweeps if (loop_sweeps and given.get('backend') == 'reference') else sweeps
        given['num_iter'] = k
        scale, approx = sweeps / k, k != sweeps
    if 'backend' in takes and 'backend' not in given and W.device.type == 'cuda': given['backend'] = 'torch'
    opts = m.make(grid, **given)
    dev = W.device
    from quantease.fast import num_threads
    sync(dev); t, cpu = time.perf_counter(), time.process_time()
    with num_threads(threads): q = m(W, H, grid, opts)     # threads: a run setting every method gets
    sync(dev)
    return q, (time.perf_counter() - t) * scale, (time.process_time() - cpu) * scale, approx


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--shapes', default=None, help="rows x cols list, or smollm / llama / all (default: smollm + 4096x4096 on CPU, all on CUDA)")
    p.add_argument('--source', default='synthetic,smollm2', help='synthetic and/or smollm2 (real layers, SmolLM2 shapes only)')
    p.add_argument('--methods', default=None, help='default: rtn,gptq,loop,blocked,fast,fast-r0 (+triton,triton-tf32 on CUDA)')
    p.add_argument('--sweeps', type=int, default=30)
    p.add_argument('--loop-sweeps', type=int, default=None, help='time loop and blocked on this many sweeps and scale to --sweeps')
    p.add_argument('--bits', type=float, default=4)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: all cores)')
    p.add_argument('--tokens', type=int, default=2048, help='activation rows behind a synthetic H')
    p.add_argument('--nsamples', type=int, default=16)
    p.add_argument('--seqlen', type=int, default=512)
    p.add_argument('--layer-block', type=int, default=15, help='SmolLM2 block whose layers are benchmarked')
    p.add_argument('--out', default=None, help='JSON file for the results')
    a = p.parse_args(argv)
    from quantease.grid import Grid
    threads = a.threads or os.cpu_count()
    torch.set_num_threads(threads)
    cuda = a.device == 'cuda'
    if cuda and not torch.cuda.is_available(): raise SystemExit('--device cuda: no CUDA device')
    shapes = a.shapes or ('all' if cuda else 'smollm,4096x4096')
    shapes = [s for part in shapes.split(',') for s in SHAPES.get(part, [part])]
    shapes = [tuple(int(v) for v in s.split('x')) for s in dict.fromkeys(shapes)]
    methods = (a.methods or 'rtn,gptq,loop,blocked,fast,fast-r0' + (',triton,triton-tf32' if cuda else '')).split(',')
    sources = a.source.split(',')
    grid = Grid(bits=a.bits)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
    peak = matmul_rate(a.device)
    problems = []
    if 'synthetic' in sources:
        problems += [('synthetic', f'{r}x{c}', *synthetic(r, c, a.tokens, device=a.device)) for r, c in shapes]
    if 'smollm2' in sources:
        real = smollm2_layers([s for s in shapes if s in SMOLLM_LAYER], a.nsamples, a.seqlen, a.layer_block)
        problems += [('smollm2', name.split('.', 3)[-1], W.to(a.device), H.to(a.device)) for _, (name, W, H) in real.items()]
    rows_out = []
    for source, label, W, H in problems:
        r, c = W.shape
        res = {}
        for m in methods:
            q, dt, dcpu, approx = run_method(m, W, H, grid, a.sweeps, a.loop_sweeps, threads)
            obj = q.stats.get('objective_rel', [None])[-1]
            res[m] = dict(time=dt, cpu=dcpu, approx=approx, relative_error=q.stats['relative_error'], objective=obj,
                          moving_rows=q.stats.get('moving_rows'))
        ref = next((m for m in ('loop', 'blocked', 'fast') if m in res and not res[m]['approx']), None)
        for m, v in res.items():
            name, given = parse_spec(m)
            cd = name == 'quantease' and 'outlier' not in given   # FLOP/s only for plain sweeps
            flops = 2 * r * c * c * a.sweeps if cd else None
            v.update(source=source, layer=label, rows=r, cols=c, method=m,
                     gflops=flops / v['time'] / 1e9 if cd else None,
                     peak_frac=flops / v['time'] / peak if cd else None,
                     speedup=res['loop']['time'] / v['time'] if 'loop' in res else None,
                     speedup_cpu=res['loop']['cpu'] / v['cpu'] if 'loop' in res else None, reference=ref,
                     dobj=(v['objective'] - res[ref]['objective']) / res[ref]['objective'] if cd and ref and v['objective'] else None)
            rows_out.append(v)
            print(f"  {source:9s} {label:18s} {m:12s} {v['time']:8.2f}s", file=sys.stderr, flush=True)
    end_peak = matmul_rate(a.device)
    dev_name = torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine())
    print(f"\n{a.device} ({dev_name}), {threads} thread(s), load average {load}; float32 matmul rate "
          f"{peak / 1e9:.1f} GFLOP/s at start, {end_peak / 1e9:.1f} at end; {a.bits:g}-bit, {a.sweeps} sweeps; "
          f"FLOP = 2·rows·cols² per sweep; ~ = scaled from {a.loop_sweeps} sweeps; "
          f"dobj against the first of loop, blocked, fast run in full; cpu s = this process's CPU time; loop/x on wall, cpu on CPU time")
    hdr = f"| {'source':9s} | {'layer':18s} | {'method':11s} | {'time s':>9s} | {'cpu s':>8s} | {'rel. error':>10s} | {'objective':>10s} | {'dobj':>9s} | {'GFLOP/s':>8s} | {'% peak':>6s} | {'loop/x':>6s} | {'cpu':>6s} |"
    print(hdr); print('|' + '|'.join('-' * (len(h)) for h in hdr.split('|')[1:-1]) + '|')
    f = lambda x, fmt: format(x, fmt) if x is not None else '-'
    for v in rows_out:
        t = ('~' if v['approx'] else '') + f"{v['time']:.2f}"
        c = ('~' if v['approx'] else '') + f"{v['cpu']:.2f}"
        print(f"| {v['source']:9s} | {v['layer']:18s} | {v['method']:11s} | {t:>9s} | {c:>8s} | {v['relative_error']:10.5f} | "
              f"{f(v['objective'], '10.5f'):>10s} | {f(v['dobj'], '9.1e'):>9s} | {f(v['gflops'], '8.2f'):>8s} | "
              f"{f(v['peak_frac'] and 100 * v['peak_frac'], '6.1f'):>6s} | {f(v['speedup'], '6.2f'):>6s} | {f(v['speedup_cpu'], '6.2f'):>6s} |")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        meta = dict(device=a.device, device_name=dev_name, threads=threads, load_average=load, peak_flops=peak,
                    peak_flops_end=end_peak, bits=a.bits, sweeps=a.sweeps, loop_sweeps=a.loop_sweeps, torch=torch.__version__)
        Path(a.out).write_text(json.dumps(dict(meta=meta, rows=rows_out), indent=1))
    return rows_out


if __name__ == '__main__':
    main()
