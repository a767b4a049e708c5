"""Many processes on one machine: wall time and results of the main job over 2 processes x 1 thread against
1 process x 2 threads and 1 process x 1 thread, and one large layer split by rows over 2 processes.

    python bench/distributed.py [--runs model,layer] [--out runs/distributed.json]

`model`: SmolLM2-135M, QuantEase 4-bit per channel, C4 16 x 512 calibration, WikiText-2 perplexity on 4 windows of
2048; the 2-process run is `torchrun --nproc-per-node 2 -m quantease quantize ...` (gloo). Its checkpoint and
perplexity must equal the 1-process ones (whole layers are solved by one rank each; the Hessian sums are exact).
`layer`: a 4096 x 11008 layer (Llama-7B's down_proj shape, random weight and correlated random inputs), QuantEase
4-bit with `--sweeps` sweeps, solved whole by one process (1 and 2 threads) and split by rows over 2 processes of
1 thread each (gloo, `torch.multiprocessing`): time and the number of codes that differ from the whole-layer solve.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path


def run_model(a):
    common = ['quantize', '--model', 'smollm2-135m', '--quantization-method', 'quantease', '--wbits', '4', '--dataset', 'c4',
              '--nsamples', '16', '--seqlen', '512', '--eval-datasets', 'wikitext2', '--eval-windows', '4', '--eval-seqlen', '2048',
              '--data-dir', a.data_dir, '--overwrite']
    rows = {}
    for name, procs, threads in (('1x1', 1, 1), ('1x2', 1, 2), ('2x1', 2, 1)):
        out = Path(a.work) / name
        env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'QUANTEASE_THREADS': str(threads)}
        launch = [sys.executable, '-m', 'quantease'] if procs == 1 else \
                 [sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node', str(procs), '--master-port', '29533', '-m', 'quantease']
        t = time.perf_counter()
        r = subprocess.run(launch + common + ['--save', str(out)], capture_output=True, text=True, env=env)
        secs = time.perf_counter() - t
        if r.returncode: sys.exit(f'{name} failed:\n{r.stderr[-3000:]}')
        res = json.loads((out / 'results.json').read_text())
        rows[name] = dict(seconds=secs, ppl=res['eval']['wikitext2']['ppl'], phases=res['quantization']['phases'],
                          quant_time=res['quantization']['time'])
        print(f"{name}: {secs:.0f} s, ppl {rows[name]['ppl']:.4f}", file=sys.stderr, flush=True)
    same = {}
    from safetensors.torch import load_file
    ref = {f.name: load_file(str(f)) for f in sorted((Path(a.work) / '1x1').glob('*.safetensors'))}
    for name in ('1x2', '2x1'):
        other = {f.name: load_file(str(f)) for f in sorted((Path(a.work) / name).glob('*.safetensors'))}
        same[name] = ref.keys() == other.keys() and all(ref[f].keys() == other[f].keys() and
                                                        all((ref[f][k] == other[f][k]).all().item() for k in ref[f]) for f in ref)
    print('\nSmolLM2-135M, QuantEase 4-bit, C4 16 x 512, WikiText-2 4 x 2048 (whole job: load, calibrate, quantize, save, evaluate)\n')
    print('| processes x threads | wall s | quantize s | speed-up vs 1x1 | WikiText-2 ppl | checkpoint identical to 1x1 |')
    print('|---|---|---|---|---|---|')
    for name, r in rows.items():
        print(f"| {name} | {r['seconds']:.0f} | {r['quant_time']:.0f} | {rows['1x1']['seconds'] / r['seconds']:.2f} | {r['ppl']:.4f} | "
              f"{'-' if name == '1x1' else same[name]} |")
    return dict(runs=rows, identical=same)


def _layer_problem(seed=0, rows=4096, cols=11008, n=8192):
    import torch
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 256, generator=g) @ torch.randn(256, cols, generator=g) / 16 + 0.5 * torch.randn(n, cols, generator=g)
    return torch.randn(rows, cols, generator=g) / 64, (X.T @ X / n)


def _solve(W, H, sweeps):
    from quantease.grid import Grid
    from quantease.methods import get_method
    m = get_method('quantease')
    return m(W, H, Grid(bits=4), m.make(Grid(bits=4), num_iter=sweeps))


def _worker(rank, world, path, sweeps, port, out):
    import torch, torch.distributed as dist
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    W, H = torch.load(path)
    lo, hi = rank * W.shape[0] // world, (rank + 1) * W.shape[0] // world
    dist.barrier()
    t = time.perf_counter()
    q = _solve(W[lo:hi].contiguous(), H, sweeps)
    parts = [None] * world
    dist.all_gather_object(parts, q.codes)
    dt = time.perf_counter() - t
    if rank == 0: torch.save((torch.cat(parts), dt), out)
    dist.destroy_process_group()


def run_layer(a):
    import torch
    import torch.multiprocessing as mp
    W, H = _layer_problem()
    rows = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = time.perf_counter()
        q = _solve(W, H, a.sweeps)
        rows[f'1x{threads}'] = dict(seconds=time.perf_counter() - t, codes=q.codes)
        print(f"1x{threads}: {rows[f'1x{threads}']['seconds']:.1f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as d:
        torch.save((W, H), f'{d}/p.pt')
        mp.spawn(_worker, args=(2, f'{d}/p.pt', a.sweeps, 29534, f'{d}/out.pt'), nprocs=2, join=True)
        codes, secs = torch.load(f'{d}/out.pt')
    rows['2x1 rows'] = dict(seconds=secs, codes=codes)
    ref = rows['1x1']['codes']
    print(f"\nOne 4096 x 11008 layer, QuantEase 4-bit per channel, {a.sweeps} sweeps (solve only; H given)\n")
    print('| processes x threads | solve s | speed-up vs 1x1 | codes differing from 1x1 |')
    print('|---|---|---|---|')
    out = {}
    for name, r in rows.items():
        diff = int((r['codes'] != ref).sum())
        out[name] = dict(seconds=r['seconds'], differing_codes=diff)
        print(f"| {name} | {r['seconds']:.1f} | {rows['1x1']['seconds'] / r['seconds']:.2f} | {diff} of {ref.numel():,} |")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', default='model,layer')
    p.add_argument('--sweeps', type=int, default=3)
    p.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    p.add_argument('--work', default='runs/distributed')
    p.add_argument('--out', default='runs/distributed.json')
    a = p.parse_args(argv)
    res = {}
    if 'model' in a.runs:
        if not a.data_dir: sys.exit('needs --data-dir or $QUANTEASE_DATA')
        res['model'] = run_model(a)
    if 'layer' in a.runs: res['layer'] = run_layer(a)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(res, settings=vars(a)), indent=1))


if __name__ == '__main__':
    main()
