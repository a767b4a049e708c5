"""Prototype, not part of the library: block-output tuning after QuantEase's layer solves, the idea AutoRound is built on
(each block's output error, minimised by gradient), started from QuantEase's answer instead of round-to-nearest.

    QUANTEASE_DATA=../shared/data python bench/block_tune.py --steps 24 --what scales --target fp [--layers 6] [--out F.json]

After the last layer of a block is solved (a pipeline hook), each quantized layer's group scales get a learnable
log-multiplier (`--what scales`; exact gradients, the codes stay) and/or its codes a learnable offset rounded with a
straight-through estimator (`--what codes`), tuned by Adam on the mean squared error between the block's output and
a target: the full-precision block on the same (quantized-model) inputs (`--target q`), or the full-precision model's
own stream (`--target fp`: the block also answers for the error of the blocks before it). Batches of `--batch`
calibration windows; every `--check` steps the loss on all windows is measured and the best state kept (the start
included). Perplexity as bench/peers.py measures it (first 4 windows of 2048 tokens). `replay=False`: the tuned
weights change what the true-sequential passes would replay.

Measured (SmolLM2-135M, 4-bit g64, seed 0, 16 x 512 C4, 24 steps of 2 windows, Adam 2e-3, AMD EPYC AVX2, 2 threads;
runs of 2026-12-08, before this file was committed, from the same code): 6 blocks quantized, QuantEase alone
24.716 / 56.321 / 33.486 (WikiText-2 / PTB / C4), scales to the quantized-input target 24.688 / 56.437 / 33.469, scales to
the full-precision stream 24.582 / 56.377 / 33.440; all 30 blocks, scales to the full-precision stream 27.067 / 60.625 /
35.302 (QuantEase alone 27.07 / 61.26 / 35.93, results/peers), 377 s. Committed runs of the same settings
(results/study/block-tune-*.json): 4-bit g64 seed 1 27.203 / 61.050 / 35.127 (alone 27.14 / 62.16 / 35.69), 4-bit
per channel seed 0 31.554 / 70.748 / 38.379 (alone 31.51 / 70.32 / 39.20), ~425 s each: about 1% better on the
geometric mean of the three test sets in all three runs, from PTB and C4, WikiText-2 unchanged. Code offsets by sign steps from QuantEase's
integer codes either flip nothing or flip too many (loss x10 at lr 2/24): they need the descent's fractional
optimum as their start.
"""
import sys, time, copy, json, argparse, random
from pathlib import Path
import torch
from quantease.models import load_model, run_block, block_linears
from quantease.data import calibration, test_stream
from quantease.grid import Grid, CLIPS
from quantease.pipeline import quantize_model, Hook
from quantease.evaluate import perplexity
F = torch.nn.functional

class Refine(Hook):
    def __init__(self, a): self.a, self.log = a, []
    def on_block_start(self, run, b, block):
        self.block, self.b, self.qs = block, b, {}
        self.lins = block_linears(run.model, block)
        fp = copy.deepcopy(block)
        if self.a.target == 'fp':       # the full-precision model's own stream: the block also answers for earlier blocks' error
            if not hasattr(self, 'X'): self.X = [run.inputs.hidden[i].clone() for i in range(len(run.inputs))]
            saved = [run.inputs.hidden[i] for i in range(len(run.inputs))]
            for i in range(len(saved)): run.inputs.hidden[i] = self.X[i]
            self.Y = [run_block(fp, run.inputs, i).detach() for i in range(len(run.inputs))]
            for i in range(len(saved)): run.inputs.hidden[i] = saved[i]
            self.X = self.Y
        else: self.Y = [run_block(fp, run.inputs, i).detach() for i in range(len(run.inputs))]
    def on_layer_solved(self, run, name, q, rec): self.qs[name.split(f'.{self.b}.', 1)[1]] = q
    def on_group_solved(self, run, b, names, results):
        if len(self.qs) == len(self.lins) and self.a.steps: self.refine(run)
    def full(self, run):
        return sum(F.mse_loss(run_block(self.block, run.inputs, i), self.Y[i]).item() for i in range(len(run.inputs))) / len(run.inputs)
    def refine(self, run):
        a, t0, maxq = self.a, time.perf_counter(), run.grid.maxq
        P = {}
        for k, lin in self.lins.items():
            q = self.qs[k]
            c = q.codes.float()
            V = torch.zeros(q.shape, requires_grad='codes' in a.what)
            ls = torch.zeros(q.scale.shape, requires_grad='scales' in a.what)      # log scale multiplier per group
            P[k] = (lin, c, q.scale.float(), q.zero[:, q.g_idx].float(), q.g_idx, V, ls)
            del lin.weight
        def put(hard):
            for lin, c, s, z, g, V, ls in P.values():
                r = c + V
                r = torch.round(r) if hard else r + (torch.round(r) - r).detach()
                lin.weight = (s * ls.exp())[:, g] * (r.clamp(0, maxq) - z)
        params = [p for v in P.values() for p in v[5:] if p.requires_grad]
        groups = [dict(params=[v[6] for v in P.values() if v[6].requires_grad], lr=a.lr),
                  dict(params=[v[5] for v in P.values() if v[5].requires_grad], lr=a.lr_codes)]
        opt = torch.optim.Adam([g for g in groups if g['params']]) if a.opt == 'adam' else None
        n = len(run.inputs)
        with torch.no_grad():
            put(True); l0 = self.full(run)
        best, state = l0, None
        rng = random.Random(self.b)
        with torch.enable_grad():
            for t in range(a.steps):
                idx = rng.sample(range(n), a.batch)
                for i in idx:
                    put(False)
                    (F.mse_loss(run_block(self.block, run.inputs, i), self.Y[i]) / len(idx)).backward()
                with torch.no_grad():
                    if opt: opt.step(); opt.zero_grad()
                    else:
                        lr = a.lr * (1 - t / a.steps)
                        for p in params: p -= lr * p.grad.sign(); p.grad = None
                    for v in P.values(): v[5].clamp_(-1, 1)
                    if (t + 1) % a.check == 0 or t + 1 == a.steps:
                        put(True); l = self.full(run)
                        if l < best: best, state = l, [(v[5].clone(), v[6].clone()) for v in P.values()]
        with torch.no_grad():
            changed, tot = 0, 0
            for (k, v), st in zip(P.items(), state or [None] * len(P)):
                lin, c, s, z, g, V, ls = v
                q = self.qs[k]
                if st is not None:
                    newc = (c + st[0]).round().clamp(0, maxq)
                    changed += int((newc != c).sum()); tot += c.numel()
                    q.codes.copy_(newc.to(q.codes.dtype)); q.scale.copy_(s * st[1].exp())
                w = q.weight
                del lin.weight
                lin.weight = torch.nn.Parameter(w, requires_grad=False)
        self.log.append(dict(block=self.b, loss0=l0, best=best, changed=changed / max(tot, 1), s=time.perf_counter() - t0))
        print(f'block {self.b}: loss {l0:.5g} -> {best:.5g} ({best / l0:.3f}) changed {changed / max(tot, 1):.4f} {time.perf_counter() - t0:.1f}s', flush=True)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bits', type=int, default=4); ap.add_argument('--group', type=int, default=64)
    ap.add_argument('--steps', type=int, default=0); ap.add_argument('--lr', type=float, default=1e-3); ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--what', default='scales'); ap.add_argument('--target', default='q'); ap.add_argument('--opt', default='adam'); ap.add_argument('--check', type=int, default=8)
    ap.add_argument('--refit', type=int, default=0); ap.add_argument('--lr-codes', type=float, default=0.02)
    ap.add_argument('--layers', type=int, default=None); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--out', default=None)
    a = ap.parse_args()
    torch.manual_seed(0)
    model, tok = load_model('smollm2-135m')
    calib = calibration('c4', tok, 16, 512, seed=a.seed)
    grid = Grid(bits=a.bits, groupsize=a.group, **CLIPS['hmse'])
    h = Refine(a)
    t = time.perf_counter()
    rep, _ = quantize_model(model, calib, 'quantease', grid, hooks=[h], replay=False, num_layers=a.layers, threads=2, progress=False, refit=a.refit)
    qs = time.perf_counter() - t
    ppl = {d: float(perplexity(model, test_stream(d, tok), 2048, max_windows=4, progress=False)) for d in ('wikitext2', 'ptb', 'c4')}
    print(json.dumps(dict(args=vars(a), quantize_s=qs, ppl=ppl)))
    if a.out:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from provenance import write_result
        write_result(a.out, dict(args=vars(a), quantize_s=qs, ppl=ppl, log=h.log))


if __name__ == '__main__':
    main()
