"""Model benchmark: a method (default QuantEase, 30 sweeps) over the linear layers of a randomly initialised
Llama-2-7B-shaped model through `quantease.pipeline.quantize_model`: time and peak memory, split into phases.

The phases come from the pipeline's own timer (`Phases`, read from its report; no monkeypatching): `capture`
(embeddings up to block 0), `load` (moving or reading blocks), `forward` (block forward passes for the Hessians and to
propagate the quantized outputs), `hessian` (H accumulation, taken out of `forward`), `solve` (the solver calls),
`bookkeeping` (the rest). On CUDA every phase boundary synchronises the device. With `--num-layers K` only the first
K blocks are quantized, and the per-block times are extrapolated to the whole model (capture counted once).

    python bench/model.py --device cuda --num-layers 4          # 4 of 32 blocks of 4096/11008, fp16, 128 x 2048 random tokens
    python bench/model.py --tiny                                # 2 blocks of 256/688 on the CPU, seconds
    python bench/model.py --method quantease --options backend=triton,tf32=1
    options: --blocks --hidden --intermediate --heads --nsamples --seqlen --sweeps --bits --dtype --threads --out

Random weights and random tokens: the numbers are about speed and memory, not quality.
"""
import argparse, json, os, sys, time
from pathlib import Path
import torch


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
    p.add_argument('--num-layers', type=int, default=None, help='quantize only the first K blocks and extrapolate')
    p.add_argument('--hidden', type=int, default=4096)
    p.add_argument('--intermediate', type=int, default=11008)
    p.add_argument('--heads', type=int, default=32)
    p.add_argument('--vocab', type=int, default=32000)
    p.add_argument('--nsamples', type=int, default=128)
    p.add_argument('--seqlen', type=int, default=2048)
    p.add_argument('--sweeps', type=int, default=30)
    p.add_argument('--bits', type=float, default=4)
    p.add_argument('--method', default='quantease', help='a method of the method table')
    p.add_argument('--options', default='', help='method options, k=v,k=v (e.g. backend=triton,tf32=1)')
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
    from quantease.pipeline import quantize_model
    from quantease.methods import get_method
    from quantease.grid import Grid
    from dataclasses import fields
    model = llama_like(a.blocks, a.hidden, a.intermediate, a.heads, a.vocab, a.seqlen, dtype, device)
    calib = torch.randint(a.vocab, (a.nsamples, a.seqlen), generator=torch.Generator().manual_seed(0))
    opts = dict(kv.split('=', 1) for kv in a.options.split(',') if kv)
    if 'num_iter' in {f.name for f in fields(get_method(a.method).options)}: opts.setdefault('num_iter', a.sweeps)
    if device == 'cuda': torch.cuda.reset_peak_memory_stats()
    weights_mb = sum(t.numel() * t.element_size() for t in model.parameters()) / 2 ** 20
    n = a.num_layers or a.blocks
    t0 = time.perf_counter()
    report, _ = quantize_model(model, calib, a.method, Grid(bits=a.bits), options=opts, device=device, num_layers=n,
                               keep_results=False, progress=False)
    measured = time.perf_counter() - t0
    phases = dict(report['phases'])
    scale = a.blocks / n
    total = phases.get('capture', 0) + (measured - phases.get('capture', 0)) * scale
    extrapolated = {k: (v if k == 'capture' else v * scale) for k, v in phases.items()}
    peak = report['memory'].get('peak_gpu')
    by_shape = {}
    for r in report['layers']:
        k = 'x'.join(map(str, r['shape']))
        d = by_shape.setdefault(k, dict(layers=0, time=0.0))
        d['layers'] += 1; d['time'] += r['time']
    name = torch.cuda.get_device_name() if device == 'cuda' else 'cpu'
    print(f"{a.blocks} blocks of {a.hidden}/{a.intermediate}, {dtype}, {a.nsamples} x {a.seqlen} tokens, {a.bits:g}-bit, "
          f"{a.method} {opts} on {device} ({name}, {torch.get_num_threads()} CPU threads); measured {n} blocks in {measured:.1f}s")
    print(f"total {total:.1f}s{' (extrapolated from ' + str(n) + ' blocks)' if n != a.blocks else ''}; "
          f"mean relative error {report['mean_relative_error']:.4f}")
    print('| phase | time s | share |\n|---|---|---|')
    for k, v in extrapolated.items(): print(f"| {k} | {v:.2f} | {100 * v / total:.1f}% |")
    print('| layer shape | layers | solve s | per layer s |\n|---|---|---|---|')
    for k, d in by_shape.items(): print(f"| {k} | {d['layers']} | {d['time']:.2f} | {d['time'] / d['layers']:.3f} |")
    if peak is not None: print(f"peak GPU memory {peak / 2**20:.0f} MiB (model weights {weights_mb:.0f} MiB)")
    print(f"peak resident memory {report['memory']['peak_rss'] / 2**20:.0f} MiB; components (MiB): "
          + ', '.join(f'{k} {v / 2**20:.0f}' for k, v in report['memory']['components'].items()))
    out = dict(device=device, device_name=name, blocks=a.blocks, measured_blocks=n, hidden=a.hidden, intermediate=a.intermediate,
               nsamples=a.nsamples, seqlen=a.seqlen, sweeps=a.sweeps, bits=a.bits, dtype=str(dtype), method=a.method,
               options=opts, measured_s=measured, total_s=total, phases=extrapolated, measured_phases=phases,
               peak_gpu_mib=None if peak is None else peak / 2**20, weights_mib=weights_mb, by_shape=by_shape,
               memory=report['memory'], mean_relative_error=report['mean_relative_error'])
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
