#!/usr/bin/env bash
# One prepared GPU run (about 6 minutes on an H100/H200) that writes everything it measures to one folder:
#   env.txt       device, driver, torch / triton / transformers versions
#   tests.log     the gpu-flagged notebook cells (nbdev-test --flags gpu) of the notebooks that have them
#   layers.txt    bench/layers.py: 4096x4096 and 11008x4096, rtn, gptq, per-column loop (2 sweeps, scaled to 30),
#                 fast torch, triton fp32, triton tf32: time, relative error, FLOP/s against the measured matmul rate
#   model.txt     bench/model.py: Llama-2-7B shape, QuantEase 30 sweeps (Triton), first 4 of 32 blocks, total
#                 extrapolated and split into forward, Hessian accumulation and solve; peak GPU memory
#   kernels.txt   bench/gpu_kernels.py: torch's CUDA int4 kernel against the tiled fallback and fp16/bf16 (layers, decoding)
# plus the JSON of each. Usage:
#   bench/gpu.sh [OUTDIR]                 on the GPU machine (OUTDIR defaults to $OUT, else runs/gpu)
#   bench/gpu.sh --cpu [OUTDIR]           the dry run on a CPU: tiny shapes, same code paths where a CPU has them
# The GPU machine has torch, triton and transformers but not nbdev, fastcore, execnb or compressed-tensors: carry them
# as wheels in .whl (see the device README) and the script installs them first when .whl exists.
set -u
cpu=0
if [[ "${1:-}" == "--cpu" ]]; then cpu=1; shift; fi
out=${1:-${OUT:-runs/gpu}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [[ -d .whl ]] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
py=python3
step() { echo "== $(date +%T) $*" | tee -a "$out/steps.log"; }

step environment
{ nvidia-smi 2>/dev/null || echo "no nvidia-smi"
  $py -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'); print('transformers', transformers.__version__)"
  $py -c "import triton; print('triton', triton.__version__)" 2>&1; } > "$out/env.txt" 2>&1

if [[ $cpu == 1 ]]; then
  dev=cpu; layer_args=(--shapes 256x256,688x256 --methods rtn,gptq,loop,fast-torch --sweeps 4 --loop-sweeps 1 --threads 2)
  model_args=(--tiny --device cpu); kern_args=(--device cpu --tiny --new 8); flags=""
else
  dev=cuda; layer_args=(--shapes 4096x4096,11008x4096 --methods rtn,gptq,loop,fast-torch,triton,triton-tf32 --sweeps 30 --loop-sweeps 2)
  model_args=(--device cuda --num-layers 4 --options backend=triton); kern_args=(--device cuda); flags="gpu"
fi

step "gpu-flagged notebook tests (flags: ${flags:-none, dry run})"
nbs=$(grep -l '#| gpu' nbs/*.ipynb | tr '\n' ' ')
if [[ $cpu == 1 ]]; then echo "dry run: would run tools/test_nbs.py --flags gpu $nbs" > "$out/tests.log"
else timeout 200 $py tools/test_nbs.py --flags gpu $nbs > "$out/tests.log" 2>&1; fi
tail -3 "$out/tests.log"

step "layer benchmark ($dev)"
timeout 150 $py bench/layers.py --device $dev --source synthetic "${layer_args[@]}" --out "$out/layers.json" > "$out/layers.txt" 2>&1
tail -12 "$out/layers.txt"

step "7B-shaped model, first blocks, extrapolated ($dev)"
timeout 150 $py bench/model.py "${model_args[@]}" --out "$out/model.json" > "$out/model.txt" 2>&1
tail -15 "$out/model.txt"

step "int4 kernel ($dev)"
timeout 90 $py bench/gpu_kernels.py "${kern_args[@]}" --out "$out/kernels.json" > "$out/kernels.txt" 2>&1
tail -14 "$out/kernels.txt"
step done
