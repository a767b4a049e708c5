"""Model benchmark: QuantEase (30 sweeps) over every linear layer of a randomly initialised Llama-2-7B-shaped model,
through `quantease.pipeline.quantize_model`: total time and peak GPU memory, split into phases.

Phases are timed from this script, without touching the pipeline: `capture` (embeddings up to block 0),
`forward` (block forward passes, for the Hessians and to propagate the quantized outputs), `hessian` (the hooks'
`Hessian.add`, i.e. H accumulation; taken out of `forward`), `solve` (the solver calls) and `other` (the rest:
moving blocks, errors, bookkeeping). On CUDA every timer synchronises the device.

    python bench/model.py --device cuda                      # 32 blocks of 4096/11008, fp16, 128 x 2048 random tokens
    python bench/model.py --tiny                             # 2 blocks of 256/688 on the CPU, seconds
    python bench/model.py --solver fast --backend triton     # the fast backends instead of the reference sweeps
    options: --blocks --hidden --intermediate --heads --nsamples --seqlen --sweeps --bits --dtype --threads --out

Random weights and random tokens: the numbers are about speed and memory, not quality.
"""
import argparse, functools, json, os, sys, time
from contextlib import contextmanager
from pathlib import Path
import torch


class Phases:
    "Accumulated wall time per phase, excluding nested phases from their parent."
    def __init__(self, device):
        self.t, self.stack, self.cuda = {}, [], torch.device(device).type == 'cuda'

    def now(self):
        if self.cuda: torch.cuda.synchronize()
        return time.perf_counter()

    @contextmanager
    def __call__(self, name):
        t0 = self.now()
        self.stack.append(0.0)
        try: yield
        finally:
            dt = self.now() - t0
            inner = self.stack.pop()
            self.t[name] = self.t.get(name, 0.0) + dt - inner
            if self.stack: self.stack[-1] += dt

    def wrap(self, name, fn):
        @functools.wraps(fn)   # keeps the signature: the pipeline reads a solver's options from it
        def timed(*a, **k):
            with self(name): return fn(*a, **k)
        return timed


def llama_like(blocks, hidden, intermediate, heads, vocab, seqlen, dtype, device, seed=0):
    "A randomly initialised LlamaForCausalLM of the given shape, built directly on `device` in `dtype`."
    from transformers import LlamaConfig, AutoModelForCausalLM
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=blocks,
                      num_attention_heads=heads, num_key_value_heads=heads, vocab_size=vocab,
                      max_position_embeddings=max(seqlen, 128), use_cache=False)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.eval()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default=None, help='cuda (default when available) or cpu')
    p.add_argument('--tiny', action='store_true', help='2 blocks of 256/688, 8 x 128 tokens, float32: a CPU smoke run')
    p.add_argument('--blocks', type=int, default=32)
    p.add_argument('--hidden', type=int, default=4096)
    p.add_argument('--intermediate', type=int, default=11008)
    p.add_argument('--heads', type=int, default=32)
    p.add_argument('--vocab', type=int, default=32000)
    p.add_argument('--nsamples', type=int, default=128)
    p.add_argument('--seqlen', type=int, default=2048)
    p.add_argument('--sweeps', type=int, default=30)
    p.add_argument('--bits', type=float, default=4)
    p.add_argument('--solver', default='quantease', choices=['quantease', 'fast'], help="quantease(backend='reference') or quantease with --backend")
    p.add_argument('--backend', default='auto', help="fast solver only: torch, triton or auto")
    p.add_argument('--tf32', action='store_true', help='fast solver only: TF32 matrix products on CUDA')
    p.add_argument('--dtype', default=None, help='model dtype (default float16 on CUDA, float32 on CPU)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--out', default=None, help='JSON file for the report')
    a = p.parse_args(argv)
    if a.tiny:
        a.blocks, a.hidden, a.intermediate, a.heads, a.vocab = 2, 256, 688, 4, 1000
        a.nsamples, a.seqlen = 8, 128
    device = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if a.threads: torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype or ('float16' if device == 'cuda' else 'float32'))
    from quantease import pipeline
    from quantease.grid import Grid
    from quantease.hessian import Hessian
    ph = Phases(device)
    model = llama_like(a.blocks, a.hidden, a.intermediate, a.heads, a.vocab, a.seqlen, dtype, device)
    calib = torch.randint(a.vocab, (a.nsamples, a.seqlen), generator=torch.Generator().manual_seed(0))
    method = 'quantease'
    opts = dict(backend=a.backend, tf32=a.tf32) if a.solver == 'fast' else dict(backend='reference')
    # instrument (this process only): the pipeline looks these up at call time
    orig = dict(capture=pipeline.capture_inputs, run_block=pipeline.run_block, add=Hessian.add, solver=pipeline.SOLVERS[method])
    pipeline.capture_inputs = ph.wrap('capture', orig['capture'])
    pipeline.run_block = ph.wrap('forward', orig['run_block'])
    Hessian.add = ph.wrap('hessian', orig['add'])
    pipeline.SOLVERS[method] = ph.wrap('solve', orig['solver'])
    if device == 'cuda': torch.cuda.reset_peak_memory_stats()
    weights_mb = sum(t.numel() * t.element_size() for t in model.parameters()) / 2 ** 20
    try:
        t0 = ph.now()
        report, results = pipeline.quantize_model(model, calib, method=method, grid=Grid(bits=a.bits), device=device,
                                                  num_iter=a.sweeps, progress=False, **opts)
        total = ph.now() - t0
    finally:
        pipeline.capture_inputs, pipeline.run_block, Hessian.add = orig['capture'], orig['run_block'], orig['add']
        pipeline.SOLVERS[method] = orig['solver']
    phases = {k: round(ph.t.get(k, 0.0), 3) for k in ('capture', 'forward', 'hessian', 'solve')}
    phases['other'] = round(total - sum(phases.values()), 3)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device == 'cuda' else None
    by_shape = {}
    for r in report['layers']:
        k = 'x'.join(map(str, r['shape']))
        d = by_shape.setdefault(k, dict(layers=0, time=0.0))
        d['layers'] += 1; d['time'] += r['time']
    name = torch.cuda.get_device_name() if device == 'cuda' else 'cpu'
    print(f"{a.blocks} blocks of {a.hidden}/{a.intermediate}, {dtype}, {a.nsamples} x {a.seqlen} tokens, {a.bits:g}-bit, "
          f"{a.sweeps} sweeps, solver {method} {opts or ''} on {device} ({name}, {torch.get_num_threads()} CPU threads)")
    print(f"total {total:.1f}s; mean relative error {report['mean_relative_error']:.4f}")
    print('| phase | time s | share |\n|---|---|---|')
    for k, v in phases.items(): print(f"| {k} | {v:.2f} | {100 * v / total:.1f}% |")
    print('| layer shape | layers | solve s | per layer s |\n|---|---|---|---|')
    for k, d in by_shape.items(): print(f"| {k} | {d['layers']} | {d['time']:.2f} | {d['time'] / d['layers']:.3f} |")
    if peak is not None: print(f"peak GPU memory {peak:.0f} MiB (weights {weights_mb:.0f} MiB)")
    out = dict(device=device, device_name=name, blocks=a.blocks, hidden=a.hidden, intermediate=a.intermediate,
               nsamples=a.nsamples, seqlen=a.seqlen, sweeps=a.sweeps, bits=a.bits, dtype=str(dtype), solver=method,
               options=opts, total=total, phases=phases, peak_gpu_mib=peak, weights_mib=weights_mb, by_shape=by_shape,
               mean_relative_error=report['mean_relative_error'])
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
