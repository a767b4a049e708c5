"""Where a committed result came from: the command, the commit, the machine (CPU model and the feature flags that pick
our kernels, cores, torch threads) and the date. Every file under `results/` carries this as its `provenance` entry.

    from provenance import stamp, write_result
    write_result('results/serve/matrix.json', {'rows': ...})      # adds provenance, writes indented JSON
"""
import datetime, json, os, platform, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ('avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_tile')


def _cpuinfo():
    info = Path('/proc/cpuinfo').read_text().splitlines() if Path('/proc/cpuinfo').exists() else []
    get = lambda k: next((l.split(':', 1)[1].strip() for l in info if l.startswith(k)), '')
    return get('model name') or platform.processor() or platform.machine(), set(get('flags').split())


def machine():
    "The CPU and what decides our kernels' paths: its model, the relevant feature flags, cores, torch's threads and ISA."
    name, flags = _cpuinfo()
    out = dict(cpu=name, flags=[f for f in FLAGS if f in flags], cores=os.cpu_count(), python=platform.python_version())
    try:
        import torch
        out.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                   torch_isa=torch.backends.cpu.get_cpu_capability())
    except ImportError: pass
    return out


def peak_rss():
    """This process's peak resident memory in bytes: its memory map's high-water mark (`VmHWM`), as
    `quantease.system.peak_rss` reads it (not `ru_maxrss`, which Linux carries across fork and exec from the process
    that started this one). Standard library only: the peers' runners call it in environments without quantease."""
    import resource
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'): return int(line.split()[1]) * 1024
    except (OSError, ValueError): pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fingerprint(w):
    """[sum |w|, sum w^2] of a weight tensor in float64: what a runner records of each layer it quantized, and what the
    evaluation compares the weights it reads back with (`peers.check_weights`)."""
    w = w.detach().double()
    return [float(w.abs().sum()), float(w.square().sum())]


def commit():
    "HEAD's hash, with '+dirty' when tracked files differ from it (the figure then comes from uncommitted code)."
    git = lambda *a: subprocess.run(['git', *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git('rev-parse', 'HEAD') or 'unknown'
    return head + ('+dirty' if git('status', '--porcelain', '--untracked-files=no', '--', 'quantease', 'bench') else '')


def stamp(argv=None):
    "The provenance entry of a result made by the command `argv` (default: this process's)."
    argv = sys.argv if argv is None else argv
    p = Path(argv[0]).resolve()
    cmd = " ".join([p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else argv[0], *argv[1:]])
    return dict(command=f'python {cmd}', commit=commit(), machine=machine(),
                date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))


def write_result(path, obj, argv=None):
    "Write `obj` with its provenance to `path` (JSON, indented), creating the folder; returns the path."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'provenance': stamp(argv), **obj}, indent=1) + '\n')
    return path


def main():
    "python bench/provenance.py stamp FILE -- CMD ...: add the provenance of CMD (run just now, here) to results FILE."
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument('action', choices=('stamp',)); ap.add_argument('file'); ap.add_argument('cmd', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ['--'] else a.cmd
    f = Path(a.file)
    obj = json.loads(f.read_text())
    obj['provenance'] = dict(stamp(['-'] + cmd), command=' '.join(cmd),
                             threads=int(os.environ.get('OMP_NUM_THREADS', 0)) or None)
    f.write_text(json.dumps(obj, indent=1) + '\n')


if __name__ == '__main__':
    main()
