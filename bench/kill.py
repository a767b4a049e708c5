"""Kill a quantization run at random moments and resume it: is every resumed checkpoint bit-identical to the
uninterrupted one?

    python bench/kill.py [--kills 20] [--seed 0] [--work runs/kill] [--out results/resume/kills.json]

The run: `quantease quantize` of SmolLM2-135M with QuantEase 4-bit on its first 3 blocks (8 x 256 C4 tokens, 10
sweeps), written to a folder (compressed-tensors) and evaluated on one WikiText-2 window. It is run once
uninterrupted (the reference: its wall time T and the SHA-256 of every tensor of its checkpoint). Then, `--kills`
times: the same command is started in a fresh folder and killed with SIGKILL after a time drawn uniformly from
[0, T] (so the kills fall over the whole life of a run: imports, model load, calibration, capture, solving, writing
shards, the last shard and config, evaluation), and the same command is run again until it exits; the resumed
folder's tensors must equal the reference's, and its results must name the same layers. A kill that came after the
run had already finished counts as such.
"""
import argparse, hashlib, json, os, random, shutil, signal, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARGS = ['--model', 'smollm2-135m', '--quantization-method', 'quantease', '--wbits', '4', '--num-layers-to-quantize', '3',
        '--nsamples', '8', '--seqlen', '256', '--num-iter', '10', '--eval-datasets', 'wikitext2', '--eval-windows', '1',
        '--eval-seqlen', '512']


def hashes(d):
    "SHA-256 of every tensor of a checkpoint folder."
    import torch
    from safetensors.torch import load_file
    return {k: hashlib.sha256(v.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
            for f in sorted(Path(d).glob('*.safetensors')) for k, v in load_file(str(f)).items()}


def command(d):
    return [sys.executable, '-m', 'quantease', 'quantize', *ARGS, '--save', str(d)]


def phase_of(log):
    "The last thing the run said before it died (its progress bar or log line), for the table."
    lines = [l for l in log.replace('\r', '\n').splitlines() if l.strip()]
    return lines[-1].strip()[:90] if lines else '(nothing yet)'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--kills', type=int, default=20); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--work', default='runs/kill'); ap.add_argument('--out', default='results/resume/kills.json')
    a = ap.parse_args()
    work = Path(a.work); shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
    t = time.time()
    r = subprocess.run(command(work / 'ref'), capture_output=True, text=True)
    T = time.time() - t
    if r.returncode: raise SystemExit(r.stderr[-3000:])
    ref = hashes(work / 'ref')
    layers = [l['name'] for l in json.loads((work / 'ref' / 'results.json').read_text())['quantization']['layers']]
    print(f'reference: {T:.1f} s, {len(ref)} tensors, {len(layers)} quantized layers', flush=True)
    rng = random.Random(a.seed)
    rows = []
    for i in range(a.kills):
        d = work / f'k{i:02d}'
        at = rng.uniform(0, T)
        log = open(work / f'k{i:02d}.log', 'w+')
        p = subprocess.Popen(command(d), stdout=log, stderr=subprocess.STDOUT)
        try: p.wait(timeout=at); killed = False
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL); p.wait(); killed = True
        log.seek(0); said = phase_of(log.read()); log.close()
        t = time.time()
        r = subprocess.run(command(d), capture_output=True, text=True)
        resume_s = time.time() - t
        ok = r.returncode == 0
        same = ok and hashes(d) == ref
        named = ok and [l['name'] for l in json.loads((d / 'results.json').read_text())['quantization']['layers']] == layers
        how = next((l for l in r.stdout.splitlines() if 'resuming' in l or 'earlier run' in l), 'started over (nothing committed)')
        rows.append(dict(kill_at_s=round(at, 2), killed=killed, last_said=said, rerun=how.strip()[:100], rerun_s=round(resume_s, 1),
                         rerun_ok=ok, identical=same, same_layers=named, error=None if ok else r.stderr.strip().splitlines()[-1][:200]))
        print(f"{i:2d} kill at {at:6.1f} s ({'killed' if killed else 'had finished'}; last: {said[:50]!r}) -> "
              f"{how.strip()[:60]!r}: identical={same}", flush=True)
        shutil.rmtree(d, ignore_errors=True)
    sys.path.insert(0, str(HERE))
    from provenance import write_result
    n_same = sum(r['identical'] and r['same_layers'] for r in rows)
    write_result(a.out, dict(args=ARGS, reference_seconds=round(T, 1), tensors=len(ref), kills=rows,
                             identical=n_same, total=len(rows), killed=sum(r['killed'] for r in rows)))
    print(f'{n_same}/{len(rows)} resumed checkpoints bit-identical to the uninterrupted one ({sum(r["killed"] for r in rows)} killed mid-run)')
    if n_same != len(rows): raise SystemExit(1)


if __name__ == '__main__':
    main()
