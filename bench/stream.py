"""Memory and time of the streaming pipeline on a model larger than the budget: a randomly initialised Llama of
TinyLlama-1.1B's shape (hidden 2048, intermediate 5632, 22 blocks, 32 heads with 4 KV heads, vocabulary 32000) saved
as sharded bfloat16 safetensors, quantized by `quantease quantize --stream` in a fresh process per configuration.

    python bench/stream.py [--folder runs/tinyllama-random] [--configs gptq,rtn,quantease2] [--out runs/stream.json]

Each configuration runs the real command (model folder -> saved checkpoint) in its own process; its peak resident
memory is the process's high-water mark (`ru_maxrss`, from the results JSON), printed beside the model's size on disk
and the peak of a process that only imports quantease, torch and transformers. The model folder is made once (its own
process; about 4 GB of memory while it is built): random weights, and a byte-level BPE tokenizer of 32000 tokens
trained on the local C4 calibration text, so that the calibration windows are real text.

Configurations: `gptq` = GPTQ 4-bit per channel, 16 x 512 C4 tokens; `rtn` = RTN 4-bit, groups of 128 (no
calibration pass); `quantease2` = QuantEase 4-bit on the first 2 blocks; `gptq3` = GPTQ on the first 3 (every block
is the same work, so its peak is the whole run's, in a seventh of the time). `--resume` also runs GPTQ on the first 3
blocks three times: uninterrupted, killed (SIGKILL, `QUANTEASE_FAULT`) as block 1's first layer is solved, and the same
command again, which resumes; it prints the times and whether the resumed checkpoint equals the uninterrupted one
tensor for tensor (SHA-256).
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

SHAPE = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
             vocab_size=32000, max_position_embeddings=2048, tie_word_embeddings=False)
CONFIGS = {
    'gptq':       ['--quantization-method', 'gptq', '--wbits', '4'],
    'rtn':        ['--quantization-method', 'rtn', '--wbits', '4', '--groupsize', '128'],
    'quantease2': ['--quantization-method', 'quantease', '--wbits', '4', '--num-layers-to-quantize', '2'],
    'gptq3':      ['--quantization-method', 'gptq', '--wbits', '4', '--num-layers-to-quantize', '3'],
}


def build(folder, data_dir, shape=SHAPE):
    "Write the random model (bf16 shards) and a 32000-token tokenizer trained on the C4 calibration file."
    folder = Path(folder)
    if (folder / 'config.json').exists(): return folder
    code = f'''
import json, torch
from pathlib import Path
from tokenizers import ByteLevelBPETokenizer
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
folder, data = Path({str(folder)!r}), Path({str(data_dir)!r})
texts = [json.loads(l)['text'] for l in open(data / 'c4' / 'c4-train.00000-of-01024.first1000.jsonl')]
bpe = ByteLevelBPETokenizer()
bpe.train_from_iterator(texts, vocab_size={shape['vocab_size']}, min_frequency=1, special_tokens=['<s>', '</s>', '<unk>'])
tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token='<s>', eos_token='</s>', unk_token='<unk>')
torch.manual_seed(0)
cfg = LlamaConfig(**{shape!r}, bos_token_id=0, eos_token_id=1)
with torch.device('cpu'): model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model.save_pretrained(folder, max_shard_size='500MB')
tok.save_pretrained(folder)
print(sum(p.numel() for p in model.parameters()), 'parameters,', len(tok), 'tokens')
'''
    subprocess.run([sys.executable, '-c', code], check=True)
    return folder


def peak_of(cmd, env):
    "Run `cmd`; (seconds, peak resident bytes of that process from /usr/bin/time if present, else None, stdout+stderr)."
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, r


def quantize_cmd(a, folder, *flags):
    "The `quantease quantize --stream` command of every run here, with `flags` (method, bits, --save ...) appended."
    return [sys.executable, '-c', 'from quantease.cli import main; main()', 'quantize', '--model', str(folder), '--stream',
            '--dataset', 'c4', '--nsamples', str(a.nsamples), '--seqlen', str(a.seqlen), '--data-dir', a.data_dir,
            '--eval-datasets', 'none', '--offload-activations', a.offload, *flags]


def digests(folder):
    "SHA-256 of every tensor of a checkpoint folder (its bytes)."
    import hashlib, torch
    from safetensors.torch import load_file
    out = {}
    for f in sorted(Path(folder).glob('*.safetensors')):
        for k, t in load_file(str(f)).items(): out[k] = hashlib.sha256(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
    return out


def resume_check(a, folder, env):
    "GPTQ on 3 blocks: uninterrupted, killed in block 1, resumed; seconds of each and whether the tensors match."
    base = quantize_cmd(a, folder, *CONFIGS['gptq3'])
    whole, cut = Path(a.work) / 'resume-whole', Path(a.work) / 'resume-cut'
    t_whole, r = peak_of(base + ['--save', str(whole), '--overwrite'], env)
    if r.returncode: raise SystemExit(f'uninterrupted run failed:\n{r.stderr[-3000:]}')
    t_killed, r = peak_of(base + ['--save', str(cut), '--overwrite'], {**env, 'QUANTEASE_FAULT': 'layer:model.layers.1.self_attn.q_proj'})
    if r.returncode != -9: raise SystemExit(f'the run was meant to be killed (SIGKILL) but ended with {r.returncode}:\n{r.stderr[-2000:]}')
    t_resumed, r = peak_of(base + ['--save', str(cut)], env)
    if r.returncode: raise SystemExit(f'resumed run failed:\n{r.stderr[-3000:]}')
    said = [l for l in (r.stdout + r.stderr).splitlines() if 'resuming' in l]
    same = digests(whole) == digests(cut)
    peak = lambda d: json.loads((d / 'results.json').read_text())['peak_rss']
    return dict(uninterrupted_s=t_whole, killed_after_s=t_killed, resumed_s=t_resumed, said=said[:1], identical=same,
                peak_uninterrupted=peak(whole), peak_resumed=peak(cut))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--folder', default='runs/tinyllama-random')
    p.add_argument('--configs', default='gptq,rtn,quantease2')
    p.add_argument('--nsamples', type=int, default=16)
    p.add_argument('--seqlen', type=int, default=512)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--offload', default='cpu', help='--offload-activations of the runs')
    p.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    p.add_argument('--work', default='runs/stream')
    p.add_argument('--out', default='runs/stream.json')
    p.add_argument('--resume', action='store_true', help='also time a GPTQ run killed in block 2 and resumed (see above)')
    a = p.parse_args(argv)
    if not a.data_dir: raise SystemExit('needs --data-dir or $QUANTEASE_DATA')
    folder = build(a.folder, a.data_dir)
    size = sum(f.stat().st_size for f in Path(folder).glob('*.safetensors'))
    env = {**os.environ, 'OMP_NUM_THREADS': str(a.threads), 'QUANTEASE_THREADS': str(a.threads), 'TOKENIZERS_PARALLELISM': 'false'}
    base = subprocess.run([sys.executable, '-c', 'import resource, torch, transformers, quantease.job, quantease.cli; '
                           'print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)'], capture_output=True, text=True, env=env)
    baseline = int(base.stdout.strip().splitlines()[-1])
    rows = {}
    for name in [c for c in a.configs.split(',') if c]:
        out = Path(a.work) / name
        cmd = quantize_cmd(a, folder, '--save', str(out), '--overwrite', *CONFIGS[name])
        secs, r = peak_of(cmd, env)
        if r.returncode: raise SystemExit(f'{name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}')
        res = json.loads((out / 'results.json').read_text())
        q = res['quantization']
        rows[name] = dict(seconds=secs, peak_rss=res['peak_rss'], phases=q['phases'], components=q['memory']['components'],
                          checkpoint=res['checkpoint']['total'], blocks=q['settings']['num_layers'])
        print(f"{name}: {secs:.0f} s, peak RSS {res['peak_rss'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
    mib = lambda b: f'{b / 2**20:,.0f}'
    print(f"\nTinyLlama-1.1B-shaped random model: {mib(size)} MiB of bfloat16 safetensors; a process that only imports "
          f"quantease, torch and transformers peaks at {mib(baseline)} MiB ({a.threads} threads, activations on {a.offload}, "
          f"{a.nsamples} x {a.seqlen} calibration tokens)\n")
    print('| run | blocks | whole run s | peak RSS MiB | peak / model size | checkpoint MiB | activations | block weights | Hessians | time split (s) |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for name, r in rows.items():
        c = r['components']
        split = ', '.join(f'{k} {v:.0f}' for k, v in r['phases'].items())
        print(f"| {name} | {r['blocks']} | {r['seconds']:.0f} | {mib(r['peak_rss'])} | {r['peak_rss'] / size:.2f} | {mib(r['checkpoint'])} | "
              f"{mib(c.get('activations', 0))} | {mib(c.get('block weights', 0))} | {mib(c.get('hessians', 0))} | {split} |")
    resume = None
    if a.resume:
        resume = resume_check(a, folder, env)
        print(f"\nKill and resume (GPTQ, first 3 blocks): uninterrupted {resume['uninterrupted_s']:.0f} s; killed in block 1 after "
              f"{resume['killed_after_s']:.0f} s; the same command again {resume['resumed_s']:.0f} s ({'; '.join(resume['said'])}); "
              f"checkpoint tensors identical to the uninterrupted run's: {resume['identical']}; peak RSS {mib(resume['peak_uninterrupted'])} "
              f"MiB uninterrupted, {mib(resume['peak_resumed'])} MiB resumed")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(model_bytes=size, import_baseline=baseline, runs=rows, resume=resume, settings=vars(a)), indent=1))


if __name__ == '__main__':
    main()
