#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py says what it measures, what travels and what cannot be done).
#
#   bash bench/gpu_check.sh wheels   # here, with pip and PyPI: our pins as Python 3.12 wheels into .whl/ (ignored by git)
#   bash bench/gpu_check.sh          # on the device machine, with .whl carried: install them, run the check into $OUT
#
# The device tool's call: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=600).
set -euo pipefail
cd "$(dirname "$0")/.."

# Missing on the device image, or there in other versions than ours: the versions come from requirements.txt.
# With bitsandbytes 0.50.2 (43 MB, CUDA 13 binaries) they come to about 59 MiB, the working tree to about 2 MiB: under
# the 64 MiB carry limit (gpu_check.py).
WHEELS=(transformers tokenizers huggingface_hub accelerate peft trl datasets dill multiprocess tyro docstring_parser typeguard bitsandbytes)

if [[ "${1:-}" == wheels ]]; then
  exclude="$(git rev-parse --git-path info/exclude)"  # the wheels travel as carried files, never as tracked ones
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
  pins=()
  for name in "${WHEELS[@]}"; do pins+=("$(grep -i "^${name}==" requirements.txt)"); done
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${pins[@]}"
  # The worker package itself (pure Python), so that the device installs it like the rest.
  exec python3 -m pip wheel --quiet --no-deps --wheel-dir .whl ./py
fi

compgen -G '.whl/refine_af_worker-*.whl' >/dev/null || { echo "no .whl/refine_af_worker-*.whl: run 'bash bench/gpu_check.sh wheels' here first" >&2; exit 2; }
# A venv over the image's own packages (its CUDA torch), with ours installed in it: its site-packages come first, so our
# pins win, and nothing edits the import path.
python3 -m venv --system-site-packages --without-pip /tmp/refine-af-venv
python3 -m pip --python /tmp/refine-af-venv/bin/python install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
# Inside the device tool's 10-minute limit, with time left to bring $OUT back.
exec timeout 560 /tmp/refine-af-venv/bin/python bench/gpu_check.py --out "${OUT:-/tmp/refine-af-gpu-check/out}" "$@"
