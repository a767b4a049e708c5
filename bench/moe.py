"""Mixtures of experts at Qwen3-30B-A3B's shape: time and memory of the streamed pipeline on a random model.

    python bench/moe.py [--folder runs/qwen3-30b-a3b-random] [--blocks 2] [--quantize 1] [--nsamples 16] [--seqlen 2048]
                        [--method gptq] [--route-nsamples 128] [--out results/moe/qwen3-30b-a3b.json]
    python bench/moe.py --report          # the docs' table, from results/moe

The model: Qwen3-30B-A3B's block (hidden 2048, 32 query and 4 key/value heads of 128, 128 experts of intermediate
768, 8 active per token, vocabulary 151936), `--blocks` of its 48 blocks, random weights, saved as bfloat16 shards in
the family's own layout (one tensor per expert), made once in a separate process. No real MoE model's weights are
available offline, and random weights are enough for time and memory (not for quality).

The run: `quantease.pipeline.quantize_model` on the folder opened with `Streamed` (one block in memory at a time),
the first `--quantize` blocks with `--method` at 4 bits per channel, `--nsamples` x `--seqlen` calibration tokens
(random token ids: with random weights, text would not route any more realistically). A hook reads the pipeline's
phase clock at each block's start and end, so each block's time splits into load, forward, statistics (Hessian
accumulation) and solve. Peak RSS is this process's high-water mark (nothing else runs in it), printed beside one
block's size in bfloat16. Tokens per expert come from the run's report (each expert layer records its count), and,
for `--route-nsamples` x `--seqlen` tokens, from a routing-only pass over block 0 (its attention and router, stopped
before the experts).

Extrapolation: each block is the same work, so the whole model is 48 x the measured block plus the measured
non-block part; the token-proportional parts (forward, statistics) scale linearly to 128 x 2048 tokens. The GPU
figures come from the cost model of `quantease.distributed` (`predict`'s rates: assumptions, stated there), written
out here for a mixture of experts: forward over the active parameters, one Hessian per expert from its tokens, the
solver's cost per expert matrix. Beside them: llm-compressor's published Qwen3-30B-A3B GPTQ times (14,208 s on one
GPU, 3,694 s on four).
"""
import argparse, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path

SHAPE = dict(hidden_size=2048, intermediate_size=6144, moe_intermediate_size=768, num_experts=128, num_experts_per_tok=8,
             num_attention_heads=32, num_key_value_heads=4, head_dim=128, vocab_size=151936, tie_word_embeddings=False,
             norm_topk_prob=True, max_position_embeddings=4096)
FULL_BLOCKS, FULL_TOKENS = 48, 128 * 2048
LLMC = {'gpus=1': 14208, 'gpus=4': 3694}     # llm-compressor's published GPTQ times for Qwen3-30B-A3B, seconds


def build(folder, blocks):
    "Write the random model (bf16 shards, one tensor per expert) in a separate process; its memory goes with it."
    folder = Path(folder)
    if (folder / 'config.json').exists() and json.loads((folder / 'config.json').read_text())['num_hidden_layers'] == blocks:
        return folder
    code = f'''
import torch
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM
torch.manual_seed(0)
cfg = Qwen3MoeConfig(**{SHAPE!r}, num_hidden_layers={blocks})
torch.set_default_dtype(torch.bfloat16)
model = Qwen3MoeForCausalLM(cfg)
model.save_pretrained({str(folder)!r}, max_shard_size='1GB')
print(sum(p.numel() for p in model.parameters()) / 1e9, 'billion parameters')
'''
    subprocess.run([sys.executable, '-c', code], check=True)
    return folder


def make_clock():
    "A pipeline hook (`quantease.pipeline.Hook`): the phase clock's totals at each block's start and end, so each block's own split."
    from quantease.pipeline import Hook
    class Clock(Hook):
        def __init__(self): self.blocks, self.start = [], {}
        def on_block_start(self, run, b, block): self.start = dict(run.phases.t); self.t0 = time.perf_counter()
        def on_block_end(self, run, b, block, records):
            d = {k: round(v - self.start.get(k, 0.), 2) for k, v in run.phases.t.items() if v - self.start.get(k, 0.) > 0}
            self.blocks.append(dict(block=b, seconds=round(time.perf_counter() - self.t0, 2), phases=d))
            print(f'block {b}: {self.blocks[-1]}', flush=True)
    return Clock()


def route_counts(src, ids, device='cpu'):
    "Tokens each expert of block 0 receives for calibration ids `ids`: its attention and router only."
    import torch
    from quantease.models import find_blocks, block_inputs, _Stop
    path, blocks = find_blocks(src.model)
    src.load_outside(path)
    block = src.load(f'{path}.0')
    counts = torch.zeros(SHAPE['num_experts'], dtype=torch.long)
    def grab(mod, args, out):
        idx = out[2] if isinstance(out, tuple) else out
        counts.add_(torch.bincount(idx.flatten(), minlength=SHAPE['num_experts']))
        raise _Stop
    h = block.mlp.gate.register_forward_hook(grab)
    try:
        with torch.no_grad():
            for row in ids:
                args, kwargs = block_inputs(src.model, row[None])
                try: block(*args, **kwargs)
                except _Stop: pass
    finally: h.remove()
    src.release(f'{path}.0')
    return counts.tolist()


def predict_moe(gpus, method='gptq', tokens=FULL_TOKENS, fwd_flops=300e12, solve_flops=40e12, net_bytes=200e9, load_bytes=10e9):
    "Seconds to quantize Qwen3-30B-A3B on `gpus` GPUs by `distributed.predict`'s model and rates, for experts."
    from quantease.methods import get_method
    h, i, E, k = SHAPE['hidden_size'], SHAPE['moe_intermediate_size'], SHAPE['num_experts'], SHAPE['num_experts_per_tok']
    q, kv = SHAPE['num_attention_heads'] * SHAPE['head_dim'], SHAPE['num_key_value_heads'] * SHAPE['head_dim']
    attn = [(q, h), (kv, h), (kv, h), (h, q)]
    experts = [(i, h), (i, h), (h, i)] * E
    active = sum(r * c for r, c in attn) + k * 3 * i * h + E * h        # per token: attention, k experts, router
    total = sum(r * c for r, c in attn + experts) + E * h
    forward = 3 * 2 * active * tokens / fwd_flops / gpus
    hessian = 2 * tokens * (2 * h * h + k * (h * h + i * i)) / fwd_flops / gpus   # q/k/v and o; each token: its k experts
    hs = 2 * h * h + E * (h * h + i * i)
    reduce = 0 if gpus == 1 else 2 * (gpus - 1) / gpus * 8 * hs / net_bytes
    m = get_method(method)
    solve = sum(m.cost(m.make(), r, c) for r, c in attn + experts) / solve_flops / gpus
    gather = 0 if gpus == 1 else total * (gpus - 1) / gpus / net_bytes
    load = 2 * total / load_bytes
    parts = {p: v * FULL_BLOCKS for p, v in dict(load=load, forward=forward, hessian=hessian, reduce=reduce, solve=solve, gather=gather).items()}
    return dict({p: round(v, 1) for p, v in parts.items()}, total=round(sum(parts.values()), 1))


def run(a):
    import torch
    from quantease.models import Streamed, find_blocks
    from quantease.pipeline import quantize_model
    from quantease.grid import Grid
    torch.set_num_threads(a.threads)
    folder = build(a.folder, a.blocks)
    src = Streamed(folder, dtype=torch.bfloat16)
    path, blocks = find_blocks(src.model)
    block_bytes = sum(p.numel() for p in blocks[0].parameters()) * 2
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, SHAPE['vocab_size'], (a.nsamples, a.seqlen), generator=g)
    clock = make_clock()
    t = time.perf_counter()
    report, _ = quantize_model(src, ids, a.method, Grid(bits=4), num_layers=a.quantize, hooks=[clock], keep_results=False,
                               progress=True, offload_dtype=torch.bfloat16)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    toks = [l['tokens'] for l in report['layers'] if l['name'].endswith('.gate_proj') and '.experts.' in l['name']]
    out = dict(shape=SHAPE, blocks_in_folder=a.blocks, quantized=a.quantize, method=a.method, nsamples=a.nsamples, seqlen=a.seqlen,
               threads=a.threads, wall=round(wall, 1), per_block=clock.blocks, phases=report['phases'], peak_rss=peak,
               block_bytes_bf16=block_bytes, fallback=sum(bool(l.get('fallback')) for l in report['layers']),
               tokens_per_expert=dict(tokens=a.nsamples * a.seqlen, min=min(toks), median=statistics.median(toks), max=max(toks)))
    if a.route_nsamples:
        ids = torch.randint(0, SHAPE['vocab_size'], (a.route_nsamples, a.seqlen), generator=torch.Generator().manual_seed(1))
        t = time.perf_counter()
        c = route_counts(Streamed(folder, dtype=torch.bfloat16), ids)
        out['routing'] = dict(tokens=a.route_nsamples * a.seqlen, min=min(c), median=statistics.median(c), max=max(c),
                              seconds=round(time.perf_counter() - t, 1))
    scale = FULL_TOKENS / (a.nsamples * a.seqlen)
    per = [b['phases'] for b in clock.blocks]
    mean = {k: statistics.mean(p.get(k, 0.) for p in per) for k in set().union(*per)}
    scaled = {k: v * (scale if k in ('forward', 'hessian') else 1) for k, v in mean.items()}
    out['extrapolated'] = dict(per_block_measured=round(sum(mean.values()), 1), per_block_at_128x2048=round(sum(scaled.values()), 1),
                               whole_model_cpu=round(FULL_BLOCKS * sum(scaled.values()), 0),
                               gpu_1=predict_moe(1, a.method), gpu_8=predict_moe(8, a.method), llm_compressor=LLMC)
    return out


def report(path=None):
    "Print the table `bench/report.py` puts in the docs (from the committed results)."
    sys.path.insert(0, str(Path(__file__).parent))
    from report import table_moe
    print(table_moe())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--folder', default='runs/qwen3-30b-a3b-random')
    p.add_argument('--blocks', type=int, default=2)
    p.add_argument('--quantize', type=int, default=1)
    p.add_argument('--nsamples', type=int, default=16)
    p.add_argument('--seqlen', type=int, default=2048)
    p.add_argument('--route-nsamples', type=int, default=128)
    p.add_argument('--method', default='gptq')
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--out', default='results/moe/qwen3-30b-a3b.json')
    p.add_argument('--report', action='store_true')
    a = p.parse_args(argv)
    if a.report: return report()
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import write_result
    out = run(a)
    write_result(a.out, out, sys.argv)
    report()


if __name__ == '__main__':
    main()
