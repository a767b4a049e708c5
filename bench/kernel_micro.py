"""The kernels notebook's micro-benchmarks: one linear layer through each weight-only kernel, and one decode step's
attention through torch's sdpa and through `kernels.decode_attention`'s regrouped call.

    python bench/kernel_micro.py [--threads 2] [--reps 50] [--out results/kernels/micro.json]

Layer: one RTN layer of TinyLlama-1.1B's MLP shape (5632 outputs x 2048 inputs; 4-, 3- and 2-bit in groups of 128,
and an 8-bit per-channel copy), activations in bfloat16, at batch 1 and 8, its weights in cache (the same layer called again and
again: the kernels' arithmetic, not memory bandwidth). Each path: the median of `--reps` calls after 5 warm-up calls:
bfloat16 dense (`torch.nn.functional.linear` on the dequantized weight), every kernel of `quantease.kernels` that
serves the layer here (`int4_cpu`, `int4_avx512` where the CPU has AVX512-BF16, `int8_cpu` on the 8-bit copy, `kbit_avx2`
and, on AVX-512 CPUs, `kbit_avx512` at every width), and
the tiled fallback; GFLOP/s = 2 x outputs x inputs x batch / time.

Attention: one decode step of TinyLlama's attention in bfloat16 (32 query heads over 4 key/value heads of 64):
8 sequences over 128 cached positions, and 1 over 640. `sdpa` is what transformers calls for a single query
(`scaled_dot_product_attention(..., enable_gqa=True)`, no mask); `regrouped` is `decode_attention`'s call (each
key/value head's 8 query heads as the 8 queries of one attention). Medians as above; max |difference| of the outputs.
"""
import argparse, os, statistics, sys, time
from pathlib import Path


def median_ms(f, reps):
    for _ in range(5): f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 1e3 * statistics.median(ts)


def layer_rows(reps, out=5632, inp=2048):
    import torch
    from torch import nn
    from quantease.grid import Grid
    from quantease.rtn import rtn
    from quantease.qlinear import qlinear
    from quantease.kernels import KERNELS, attach, detach
    torch.manual_seed(0)
    lin = nn.Linear(inp, out, bias=False)
    rows = []
    for bits, gs in ((4, 128), (3, 128), (2, 128), (8, -1)):
        m = qlinear('layer', lin, rtn(lin.weight.data, None, Grid(bits=bits, groupsize=gs)))
        W = m.dequantize(torch.bfloat16)
        for b in (1, 8):
            x = torch.randn(b, inp).bfloat16()
            flops = 2 * out * inp * b
            paths = {}
            if bits == 4: paths['bf16 dense'] = lambda: torch.nn.functional.linear(x, W)
            for name, k in KERNELS.items():
                if k.device != 'cpu' or not k.available() or k.why_not(m, torch.bfloat16): continue
                attach(m, name, torch.bfloat16)
                paths[name] = (lambda mm=m: lambda: mm(x))()
                t = median_ms(paths.pop(name), reps)
                rows.append(dict(bits=bits, group=gs, batch=b, path=name, ms=round(t, 4), gflops=round(flops / t / 1e6, 1)))
                detach(m)
            paths['tiled fallback'] = lambda: m(x)
            for name, f in paths.items():
                t = median_ms(f, reps if 'tiled' not in name else max(5, reps // 5))
                rows.append(dict(bits=bits, group=gs, batch=b, path=name, ms=round(t, 4), gflops=round(flops / t / 1e6, 1)))
    return rows


def attention_rows(reps, heads=32, kv=4, d=64):
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    rows = []
    for b, T in ((8, 128), (1, 640)):
        q = torch.randn(b, heads, 1, d).bfloat16()
        k, v = torch.randn(b, kv, T, d).bfloat16(), torch.randn(b, kv, T, d).bfloat16()
        sdpa = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        regrouped = lambda: F.scaled_dot_product_attention(q.reshape(b, kv, heads // kv, d), k, v).reshape(b, heads, 1, d)
        diff = (sdpa().float() - regrouped().float()).abs().max().item()
        for name, f in (('sdpa', sdpa), ('regrouped', regrouped)):
            rows.append(dict(batch=b, positions=T, path=name, ms=round(median_ms(f, reps), 4), max_diff=diff))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=50)
    p.add_argument('--out', default='results/kernels/micro.json')
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import write_result
    out = dict(threads=a.threads, reps=a.reps, layer=layer_rows(a.reps), attention=attention_rows(a.reps))
    write_result(a.out, out, sys.argv)
    from report import table_micro, table_attention
    print(table_micro()); print(); print(table_attention())


if __name__ == '__main__':
    main()
