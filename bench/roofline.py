"""How fast can 4-bit decoding get on this CPU? A bound for any weight-only kernel, from measurements.

    python bench/roofline.py [--model runs/tinyllama-random] [--checkpoint runs/generate/tinyllama-w4] [--threads 2] [--attention quantease]
                             [--out results/kernels/roofline.json]

For the bfloat16 model in transformers, at batch 1 and 8, one decode step (after a 64-token prompt per sequence) is
timed as it is, and again with every linear layer replaced by a no-op that returns an empty output of the right shape:
the difference is the linear layers' time, the rest (attention over the cache, norms, rotary, sampling, Python) is
what no weight format changes. A weight-only kernel still does every multiply-add of the linear layers (2 * batch *
in * out flops each), so a step cannot take less than the rest plus those flops at the best rate this CPU reaches on a
large bfloat16 matrix product (measured here, 2048 x 2048 x 5632), nor less than the rest plus the time to stream the
4-bit weights at the best bandwidth seen (a bfloat16 matrix-vector product, or the 4-bit model's own batch-1 step). The table gives the measured step of
bfloat16 and of the 4-bit checkpoint through `quantease.load` (kernel='auto'), that bound, and the largest speed-up
over bfloat16 any 4-bit kernel could have. `--attention quantease` runs both models' attention through
`quantease.kernels.decode_attention`.
"""
import argparse, json, time
from pathlib import Path
import torch
from torch import nn


def step_ms(m, b, reps, prompt=64):
    "Milliseconds of one greedy decode step at batch `b` after a `prompt`-token prompt (median of `reps`)."
    ids = torch.randint(0, m.config.vocab_size, (b, prompt), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = m(ids, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            o = m(nxt, past_key_values=past, use_cache=True)
            times.append(time.perf_counter() - t)
            past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
    return 1e3 * sorted(times)[len(times) // 2]


class NoOp(nn.Module):
    "A linear layer that does no arithmetic: an uninitialised output of the right shape."
    def __init__(self, lin):
        super().__init__()
        self.out, self.dtype = lin.out_features, lin.weight.dtype
    def forward(self, x): return torch.empty(*x.shape[:-1], self.out, dtype=self.dtype)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='runs/tinyllama-random')
    p.add_argument('--checkpoint', default='runs/generate/tinyllama-w4')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=24)
    p.add_argument('--attention', default=None, help="both models' attention: transformers' default (sdpa) when not given, or 'quantease' (kernels.decode_attention)")
    p.add_argument('--out', default='results/kernels/roofline.json')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    from quantease.loading import load, memory_size
    # the machine's best bfloat16 rate, and the bandwidth of a bfloat16 matrix-vector product
    x, w = torch.randn(2048, 2048, dtype=torch.bfloat16), torch.randn(2048, 5632, dtype=torch.bfloat16)
    for _ in range(3): x @ w
    t = time.perf_counter(); [x @ w for _ in range(10)]; peak = 2 * 2048 * 2048 * 5632 * 10 / (time.perf_counter() - t)
    v, W = torch.randn(1, 5632, dtype=torch.bfloat16), torch.randn(2048, 5632, dtype=torch.bfloat16)
    for _ in range(5): v @ W.T
    t = time.perf_counter(); [v @ W.T for _ in range(50)]; bw = W.numel() * 2 * 50 / (time.perf_counter() - t)
    bf = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16).eval()
    lins = {n: mod for n, mod in bf.named_modules() if isinstance(mod, nn.Linear)}
    macs = sum(l.in_features * l.out_features for l in lins.values())
    q = load(a.checkpoint, dtype=torch.bfloat16, kernel='auto', attention=a.attention)
    from quantease.kernels import kernel_counts, set_attention
    set_attention(bf, a.attention)
    kernels = ', '.join(f'{k} {v}' for k, v in kernel_counts(q).items())
    packed = memory_size(q)['linear'] + lins['lm_head'].weight.numel() * 2      # the 4-bit layers, and the bfloat16 head
    rows = []
    for b in (1, 8):
        t_bf, t_q = step_ms(bf, b, a.reps), step_ms(q, b, a.reps)
        saved = {n: bf.get_submodule(n) for n in lins}
        for n, l in saved.items(): bf.set_submodule(n, NoOp(l))
        t_rest = step_ms(bf, b, a.reps)
        for n, l in saved.items(): bf.set_submodule(n, l)
        flops = 2 * b * macs
        if b == 1: bw = max(bw, packed / ((t_q - t_rest) / 1e3))     # what the 4-bit step itself streams, if faster
        bound = t_rest + 1e3 * max(flops / peak, packed / bw)
        rows.append(dict(batch=b, bf16_ms=t_bf, w4_ms=t_q, rest_ms=t_rest, linear_gflop=flops / 1e9, bound_ms=bound,
                         w4_speedup=t_bf / t_q, best_speedup=t_bf / bound))
    print(f"{a.threads} threads; bfloat16 peak {peak / 1e9:.0f} GFLOP/s (2048x2048x5632 product); best bandwidth seen {bw / 1e9:.1f} GB/s; "
          f"linear layers {macs / 1e6:.0f} M weights, 4-bit resident {packed / 2**20:.0f} MiB (lm_head in bfloat16); kernels: {kernels}; attention {q.config._attn_implementation}\n")
    print('| batch | bf16 step ms | 4-bit step ms | 4-bit speed-up | step without linear layers ms | linear GFLOP | bound ms | best possible speed-up |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['batch']} | {r['bf16_ms']:.1f} | {r['w4_ms']:.1f} | {r['w4_speedup']:.2f} | {r['rest_ms']:.1f} | {r['linear_gflop']:.1f} | {r['bound_ms']:.1f} | {r['best_speedup']:.2f} |")
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import write_result
    write_result(a.out, dict(rows=rows, peak_flops=peak, bandwidth=bw, threads=a.threads, kernels=kernels,
                             attention=q.config._attn_implementation), sys.argv)


if __name__ == '__main__':
    main()
