#!/usr/bin/env bash
# GPU checks of issue 5 (batched seeds, device-resident training) in one go on a lent GPU.
#
# 1. Prepare once, here, in the repo root (needs pip and the MNIST files under
#    $METABNN_DATA or ../shared/data); it fills .gpu/ (git-excluded, about 15 MiB):
#        bash benchmarks/perf/gpu_check.sh prepare
#    .gpu/wheels: avalanche-lib 0.6.0 and the pure-Python packages it imports at import time
#    that the GPU image lacks (dill, pytorchcv, qpsolvers); .gpu/stubs: import-only stand-ins
#    for the other three (GPUtil has no wheel, wandb would not fit, gdown pulls bs4): these runs
#    use none of them; .gpu/data: MNIST as .gz (the raw files would not fit the 64 MiB).
# 2. On the device (device tool), with the folder carried:
#        run(command="bash benchmarks/perf/gpu_check.sh quick", carry=[".gpu"], timeout_s=540)
#    quick (about 5-8 minutes with the start): versions, equality of batched seeds and separate
#    runs on CUDA (tiny stream), benchmarks/perf/epoch.py at 2x4096 (bare loop, our default
#    multi-tensor step, the per-parameter and compiled steps, Avalanche), benchmarks/perf/seeds.py at the Fig. 2d size (2x4096, 60k
#    images, 6 x 10k test images per epoch), K = 1 separate vs K = 5 batched, whose per-epoch
#    times x 240 project the Fig. 2d protocol (6 tasks x 40 epochs).
#        run(command="bash benchmarks/perf/gpu_check.sh fig2d", carry=[".gpu"], timeout_s=600)
#    fig2d: the full protocol, m = 1.35, 6 x 40 epochs, 2x4096, seed 0, through `metabnn run`,
#    stopped at 570 s (the issue asks <= 300 s). fig2d-batched: the same for seeds 0-4 with
#    --batched-seeds (the issue asks <= 2x fig2d); it needs its own 600 s call.
# Everything printed also lands in $OUT/gpu_check.log. A dry run without a GPU:
#    DEVICE=cpu BENCH="--k 2 --hidden 256 256 --n 2000 --n-test 1000" \
#      EPOCH_BENCH="--hidden 256 256 --n 2000 --repeats 1" bash ... quick
set -uo pipefail
stage="${1:-quick}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$here"

if [ "$stage" = prepare ]; then
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  rm -rf .gpu/stubs && mkdir -p .gpu/wheels .gpu/data/MNIST/raw
  pip="${PIP:-.venv/bin/python -m pip}"
  $pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .gpu/wheels avalanche-lib==0.6.0 dill pytorchcv \
    qpsolvers || exit 1
  python3 - <<'EOF'
import pathlib
stubs = {
    "GPUtil.py": "def getGPUs():\n    return []\n",
    "gdown.py": "def download(*a, **k):\n    raise ImportError('gdown stub')\n"
                "cached_download = download\n",
    "wandb/__init__.py": "",
}
for name, text in stubs.items():
    path = pathlib.Path(".gpu/stubs") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# import-only stand-in for the GPU check (benchmarks/perf/gpu_check.sh)\n"
                    + text)
EOF
  src="${METABNN_DATA:-../shared/data}/MNIST/raw"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
           t10k-labels-idx1-ubyte; do
    gzip -9c "$src/$f" > ".gpu/data/MNIST/raw/$f.gz" || exit 1
  done
  du -sh .gpu
  exit 0
fi

log="${OUT:-/tmp}/gpu_check.log"
exec > >(tee -a "$log") 2>&1
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
if [ -d .gpu/wheels ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/wheels/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$here:$here/.gpu/stubs"
else
  export PYTHONPATH="$here"
fi
if [ -d .gpu/data ]; then
  mkdir -p /tmp/data/MNIST/raw
  for f in .gpu/data/MNIST/raw/*.gz; do gunzip -c "$f" > "/tmp/data/MNIST/raw/$(basename "$f" .gz)"; done
  export METABNN_DATA=/tmp/data
fi
metabnn() { python3 -m metabnn.cli "$@"; }
device="${DEVICE:-cuda}"
fig2d=(--stream pmnist --tasks 6 --epochs 40 --hidden 4096 4096 --meta 1.35 --device "$device"
       --no-progress --wandb disabled)
work="$(mktemp -d)"

case "$stage" in
quick)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  echo "== equality: batched seeds vs separate runs on CUDA (tiny pmnist) =="
  tiny=(--stream pmnist --tasks 2 --train-per-task 1000 --test-per-task 500 --hidden 64
        --epochs 2 --eval-batch-size 200 --device "$device" --no-progress --wandb disabled)
  metabnn run "${tiny[@]}" --seeds 0 1 2 --batched-seeds --out "$work/b" | tail -4
  for s in 0 1 2; do metabnn run "${tiny[@]}" --seed "$s" --out "$work/s" > /dev/null || exit 1; done
  python3 - "$work" <<'EOF'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1])
sep = {p.parent.name: json.loads(p.read_text()) for p in (w / "s").glob("*/results.json")}
worst = 0.0
for b in sorted((json.loads(p.read_text()) for p in (w / "b").glob("*/results.json")),
                key=lambda r: r["seed"]):
    s = sep[b["stamp"]]
    rows = lambda r: [c["accuracy"] for c in r["curves"]]
    d = max(abs(x - y) for ra, rb in zip(rows(b), rows(s)) for x, y in zip(ra, rb))
    worst = max(worst, d)
    print(f"seed {b['seed']}: kernels {b['batched']['kernels']}, max |d accuracy| over all "
          f"epochs and tasks {d:.4f}, bitwise {rows(b) == rows(s)}")
# bmm sums in another order than mm; a BNN turns that into a few flipped signs: 0.03 = 15 of
# 500 test images
print("EQUALITY", "OK" if worst <= 0.03 else "OVER 0.03", f"(worst {worst:.4f})")
EOF
  echo "== speed: one epoch at the Fig. 2d width next to the bare loop; optimizer implementations =="
  # shellcheck disable=SC2086
  timeout 150 python3 -m metabnn.benchmarks.perf.epoch --device "$device" --avalanche \
    ${EPOCH_BENCH:---hidden 4096 4096 --repeats 3}
  echo "== speed: K = 5 batched vs separate, Fig. 2d size, one epoch each =="
  # shellcheck disable=SC2086
  timeout 240 python3 -m metabnn.benchmarks.perf.seeds --device "$device" \
    ${BENCH:---k 5 --hidden 4096 4096 --n 60000 --n-test 60000 --repeats 2}
  echo "(projected Fig. 2d protocol = 240 x the s/epoch above: one seed, and 5 batched seeds)"
  ;;
fig2d)
  start=$(date +%s)
  timeout 570 python3 -m metabnn.cli run "${fig2d[@]}" --seed 0 --out "$work/f" | tail -12
  echo "FIG2D one seed: $(( $(date +%s) - start )) s wall (process start and data included)"
  ;;
fig2d-batched)
  start=$(date +%s)
  timeout 570 python3 -m metabnn.cli run "${fig2d[@]}" --seeds 0 1 2 3 4 --batched-seeds \
    --out "$work/f" | tail -8
  echo "FIG2D 5 batched seeds: $(( $(date +%s) - start )) s wall (process start and data included)"
  ;;
*)
  echo "unknown stage $stage: prepare, quick, fig2d or fig2d-batched"; exit 2
  ;;
esac
