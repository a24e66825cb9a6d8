#!/usr/bin/env bash
# The GPU check of a session that is lent a GPU machine (see bench/RESULTS.md, "GPU results"). Run on that machine, from the
# repository root, with the bundle made here beforehand:
#     python bench/gpu_bundle.py pack .gpu_bundle      # on the development machine (needs the data root and the model)
#     bash bench/gpu_check.sh OUTDIR                  # on the GPU machine (uses its own torch and transformers)
# It writes random weights with the default model's config (same shapes, so the same cost), runs tests/test_cuda.py, and
# bench/scoring.py on the GPU in float32 and in bfloat16 (culnig's GPU default). Every output goes to OUTDIR.
set -uo pipefail
out=${1:?usage: bench/gpu_check.sh OUTDIR}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 CULNIG_PROGRESS=0 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
{ nvidia-smi -L; $py -c "import torch, transformers, platform; print('torch', torch.__version__, 'transformers', transformers.__version__, 'python', platform.python_version(), torch.cuda.get_device_name(0))"; } 2>&1 | tee "$out/machine.txt"
$py bench/gpu_bundle.py weights .gpu_bundle 2>&1 | tail -1
$py -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.txt"
for dt in float32 bfloat16; do
  $py bench/scoring.py --device cuda --dtype $dt --model .gpu_bundle/model --records .gpu_bundle/blend_neuron.jsonl \
      --n-per-country ${N_PER_COUNTRY:-64} --rounds 4 2>&1 | tee "$out/scoring_cuda_$dt.txt"
done
