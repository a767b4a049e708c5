"""The weight-only int4 kernel against the tiled fallback and a dense fp16/bf16 layer: exactness and speed of one layer at
batch 1 and 8, then greedy decoding of a random Llama (TinyLlama-1.1B shape unless --tiny) with every linear layer
RTN-quantized to 4 bits (groups of 128), through the kernel and through bfloat16.

    python bench/gpu_kernels.py [--device cuda|cpu] [--tiny] [--out runs/gpu/kernels.json]

On CUDA the kernel is `int4_cuda` (torch's tinygemm `_weight_int4pack_mm`), on CPU `int4_cpu`. Prints two tables.
"""
import argparse, json, sys, time
import torch


def timed(f, x, device, reps=20):
    f(x)
    if device == 'cuda': torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(x)
        if device == 'cuda': torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[reps // 2]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--tiny', action='store_true', help='small shapes: a CPU dry run')
    p.add_argument('--new', type=int, default=64)
    p.add_argument('--out', default=None)
    a = p.parse_args(argv)
    from quantease.qlinear import QuantLinear
    from quantease.grid import Grid
    from quantease.rtn import rtn
    from quantease.kernels import attach, detach, use_kernels, kernel_counts
    dev, dt = a.device, torch.bfloat16
    kname = 'int4_cuda' if dev == 'cuda' else 'int4_cpu'
    shapes = [(512, 256), (256, 512)] if a.tiny else [(4096, 4096), (11008, 4096), (4096, 11008)]
    res = dict(device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', torch=torch.__version__, layers=[], model=None)
    print(f"| layer (out x in) | batch | dense {dt} ms | kernel ms | tiled ms | dense / kernel | max |kernel - tiled| / max |y| |")
    print('|---|---|---|---|---|---|---|')
    for out, inp in shapes:
        W = torch.randn(out, inp) / inp ** 0.5
        q = rtn(W, grid=Grid(bits=4, groupsize=128))
        m = QuantLinear.from_quantized(q).to(dev)
        dense = W.to(dev, dt)
        mk = QuantLinear.from_quantized(q).to(dev)
        attach(mk, kname, dt)
        for b in (1, 8):
            x = torch.randn(b, inp, device=dev, dtype=dt)
            with torch.inference_mode():
                yk, yt = mk(x), m(x)
                err = ((yk.float() - yt.float()).abs().max() / yt.float().abs().max()).item()
                td, tk, tt = (timed(lambda x: x @ dense.T, x, dev), timed(mk, x, dev), timed(m, x, dev))
            res['layers'].append(dict(shape=[out, inp], batch=b, dense_ms=td * 1e3, kernel_ms=tk * 1e3, tiled_ms=tt * 1e3, rel_err=err))
            print(f"| {out} x {inp} | {b} | {td * 1e3:.3f} | {tk * 1e3:.3f} | {tt * 1e3:.3f} | {td / tk:.2f} | {err:.2e} |")
    # a whole random model, decoding
    from transformers import LlamaConfig, LlamaForCausalLM
    from quantease.models import linear_kind, weight_of
    shape = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=1024) if a.tiny \
        else dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4, vocab_size=32000)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**shape, max_position_embeddings=2048)).to(dt).eval()
    ref = LlamaForCausalLM(LlamaConfig(**shape, max_position_embeddings=2048)).to(dt).eval()
    ref.load_state_dict(model.state_dict())
    for name, mod in list(model.named_modules()):
        if linear_kind(mod) is not None and 'lm_head' not in name:
            model.set_submodule(name, QuantLinear.from_quantized(rtn(weight_of(mod).float(), grid=Grid(bits=4, groupsize=128))))
    model.to(dev); ref.to(dev)
    kernels = use_kernels(model, kname, dt)

    def decode(m, b):
        ids = torch.randint(0, shape['vocab_size'], (b, 32), generator=torch.Generator().manual_seed(1)).to(dev)
        with torch.inference_mode():
            o = m(ids, use_cache=True)
            past, nxt, toks = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True), []
            if dev == 'cuda': torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(a.new):
                toks.append(nxt)
                o = m(nxt, past_key_values=past, use_cache=True)
                past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
            if dev == 'cuda': torch.cuda.synchronize()
            return a.new * b / (time.perf_counter() - t), torch.cat(toks, 1)

    rows = {}
    for b in (1, 8):
        if dev == 'cuda': torch.cuda.reset_peak_memory_stats()
        tq, gq = decode(model, b)
        mq = torch.cuda.max_memory_allocated() if dev == 'cuda' else None
        use_kernels(model, None)
        tf, gf = decode(model, b)
        use_kernels(model, kname, dt)
        if dev == 'cuda': torch.cuda.reset_peak_memory_stats()
        td, _ = decode(ref, b)
        md = torch.cuda.max_memory_allocated() if dev == 'cuda' else None
        rows[b] = dict(kernel_tok_s=tq, tiled_tok_s=tf, dense_tok_s=td, same_tokens=bool((gq == gf).all()), peak_kernel=mq, peak_dense=md)
    res['model'] = dict(shape=shape, kernels=kernel_counts(model), decode=rows)
    print(f"\nRandom Llama {shape['hidden_size']}/{shape['intermediate_size']} x {shape['num_hidden_layers']} blocks, 4-bit g128 RTN, "
          f"greedy decode of {a.new} tokens after 32 ({dev}, {res['device']})\n")
    print(f'| batch | {kname} tok/s | tiled tok/s | dense {dt} tok/s | kernel / dense | kernel = tiled tokens | peak GPU MiB kernel / dense |')
    print('|---|---|---|---|---|---|---|')
    for b, r in rows.items():
        pk = '-' if r['peak_kernel'] is None else f"{r['peak_kernel'] / 2**20:,.0f} / {r['peak_dense'] / 2**20:,.0f}"
        print(f"| {b} | {r['kernel_tok_s']:.1f} | {r['tiled_tok_s']:.1f} | {r['dense_tok_s']:.1f} | {r['kernel_tok_s'] / r['dense_tok_s']:.2f} | {r['same_tokens']} | {pk} |")
    if a.out:
        with open(a.out, 'w') as f: json.dump(res, f, indent=1, default=str)


if __name__ == '__main__':
    main()
