"""SmolLM2-135M WikiText-2 perplexity (4 windows of 2,048 tokens) of one checkpoint through every CPU path this
machine has, one process: each weight-only kernel that serves its layers (forced, in bfloat16 and, where it takes
them, float32 activations), the tiled fallback in bfloat16 (weights rounded to bfloat16), the fallback computing
each layer in float32 on bfloat16 activations (what the kernels compute, up to the order of their float32 sums), and
the fallback in float32 (the exact value).

    python bench/kernel_ppl.py [--checkpoint runs/generate/smollm2-w4] [--out results/kernels/ppl.json]
    python bench/kernel_ppl.py --checkpoint runs/generate/smollm2-w3 --out results/kernels/ppl-w3-avx2.json

The checkpoints are the RTN ones `bench/generate.py` makes (4-, 3- and 2-bit in groups of 64).
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
    from quantease.grid import QuantEaseError
    from quantease.loading import load
    from quantease.kernels import KERNELS, use_kernels, kernel_counts
    from generate import float32_fallback          # bench/, beside this script
    m, tok = load(a.checkpoint, dtype=torch.bfloat16, tokenizer=True, kernel=None)
    s = test_stream('wikitext2', tok, a.data_dir)[0][None]
    ppl = lambda model: float(perplexity(model, s, 2048, max_windows=4, progress=False))
    cpu = [n for n, k in KERNELS.items() if k.device == 'cpu' and k.available()]
    out = {}
    def each(model, dtype):
        for name in cpu:
            try: use_kernels(model, name)
            except QuantEaseError: continue                    # serves none of this checkpoint's layers
            out[f'{dtype} {name}'] = (kernel_counts(model), ppl(model))
    each(m, 'bf16')
    use_kernels(m, None); out['bf16 tiled'] = (kernel_counts(m), ppl(m))
    out['bf16 tiled, float32 arithmetic'] = ('tiled', ppl(float32_fallback(m)))
    del m
    m = load(a.checkpoint, dtype=torch.float32, kernel=None)
    out['float32 tiled (exact)'] = ('tiled', ppl(m))
    each(m, 'float32')
    for k, (kern, v) in out.items(): print(f'| {k} | {v:.4f} | {kern} |')
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import write_result
    qc = json.loads((Path(a.checkpoint) / 'config.json').read_text())['quantization_config']
    bits = qc.get('bits') or qc['config_groups']['group_0']['weights']['num_bits']
    write_result(a.out, dict(threads=a.threads, checkpoint=a.checkpoint, bits=bits, paths={k: dict(kernels=kern, ppl=v) for k, (kern, v) in out.items()}), sys.argv)


if __name__ == '__main__':
    main()
