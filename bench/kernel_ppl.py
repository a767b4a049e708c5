"""SmolLM2-135M 4-bit WikiText-2 perplexity (4 windows of 2,048 tokens) through each CPU path, one process:
`int4_avx512` and `int4_cpu` in bfloat16, the tiled fallback in bfloat16 (weights rounded to bfloat16), the fallback
computing each layer in float32 on bfloat16 activations, and the fallback in float32 (the exact value).

    python bench/kernel_ppl.py [--checkpoint runs/generate/smollm2-w4] [--out results/kernels/ppl.json]

The checkpoint is the RTN one `bench/generate.py` makes.
"""
import argparse, json, os, sys
from pathlib import Path
import torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--checkpoint', default='runs/generate/smollm2-w4')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    p.add_argument('--out', default='results/kernels/ppl.json')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from quantease.data import test_stream
    from quantease.evaluate import perplexity
    from quantease.loading import load
    from quantease.kernels import use_kernels, kernel_counts
    from generate import float32_fallback          # bench/, beside this script
    m, tok = load(a.checkpoint, dtype=torch.bfloat16, tokenizer=True, kernel='int4_avx512')
    s = test_stream('wikitext2', tok, a.data_dir)[0][None]
    ppl = lambda model: float(perplexity(model, s, 2048, max_windows=4, progress=False))
    out = {'bf16 int4_avx512': (kernel_counts(m), ppl(m))}
    use_kernels(m, 'int4_cpu'); out['bf16 int4_cpu'] = (kernel_counts(m), ppl(m))
    use_kernels(m, None); out['bf16 tiled'] = (kernel_counts(m), ppl(m))
    out['bf16 tiled, float32 arithmetic'] = ('tiled', ppl(float32_fallback(m)))
    del m
    out['float32 tiled (exact)'] = ('tiled', ppl(load(a.checkpoint, dtype=torch.float32, kernel=None)))
    for k, (kern, v) in out.items(): print(f'| {k} | {v:.4f} | {kern} |')
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import write_result
    write_result(a.out, dict(threads=a.threads, checkpoint=a.checkpoint, paths={k: dict(kernels=kern, ppl=v) for k, (kern, v) in out.items()}), sys.argv)


if __name__ == '__main__':
    main()
