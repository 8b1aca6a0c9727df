#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py says what it measures, what travels and what cannot be done).
#
#   bash bench/gpu_check.sh wheels      # here, with pip and PyPI: our pins as Python 3.12 wheels into .whl/ (ignored by git)
#   bash bench/gpu_check.sh             # on the device machine, with .whl carried: install them, run the check into $OUT
#   bash bench/gpu_check.sh --dry-run   # on any CPU, with the project's .venv: every step that needs no CUDA (the rest
#                                       # is skipped, each with its reason, in the same report)
#
# The device tool's call: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=600).
set -euo pipefail
cd "$(dirname "$0")/.."

# Missing on the device image (trl, bitsandbytes and trl's needs), or there in versions ours do not import with
# (transformers 5, huggingface-hub 1, tokenizers 0.23): the versions come from requirements.txt. `wheels` prints their
# size against the device's 64 MiB limit on what travels (bitsandbytes alone is about 43 MB).
WHEELS=(transformers tokenizers huggingface-hub accelerate peft trl datasets dill multiprocess tyro docstring-parser typeguard bitsandbytes)
CARRY_LIMIT=$((64 * 1024 * 1024))
OUT="${OUT:-/tmp/refine-af-gpu-check/out}"

if [[ "${1:-}" == wheels ]]; then
  exclude="$(git rev-parse --git-path info/exclude)" # the wheels travel as carried files, never as tracked ones
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
  pins=()
  for name in "${WHEELS[@]}"; do
    # requirements.txt spells names as pip normalises them (dashes); a name it lacks is an error, not a silent omission.
    pin="$(grep -iE "^${name//[-_]/[-_]}==" requirements.txt)" || { echo "requirements.txt pins no ${name}" >&2; exit 2; }
    pins+=("$pin")
  done
  rm -rf .whl
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${pins[@]}"
  # The worker package itself (pure Python), so that the device installs it like the rest; built from a copy, since the
  # build leaves its build/ folder beside the sources.
  source_copy="$(mktemp -d)"
  cp -r py "$source_copy/"
  python3 -m pip wheel --quiet --no-deps --wheel-dir .whl "$source_copy/py"
  rm -rf "$source_copy"
  wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
  tree=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
  du -h .whl/*.whl
  echo "wheels $((wheels / 1024)) KiB + working tree $((tree / 1024)) KiB = $(((wheels + tree) / 1024)) KiB of the $((CARRY_LIMIT / 1024)) KiB that can travel"
  if ((wheels + tree > CARRY_LIMIT)); then
    echo "over the limit: drop bitsandbytes from WHEELS (the check then runs without NF4 and says so)" >&2
    exit 1
  fi
  exit 0
fi

mkdir -p "$OUT"
if [[ " $* " == *" --dry-run "* ]]; then
  python=.venv/bin/python
  export PYTHONPATH="$PWD/py${PYTHONPATH:+:$PYTHONPATH}"
else
  compgen -G '.whl/refine_af_worker-*.whl' >/dev/null || { echo "no .whl/refine_af_worker-*.whl: run 'bash bench/gpu_check.sh wheels' here first" >&2; exit 2; }
  # The device's python3 is itself a virtual environment (/opt/torch/.venv, with CUDA torch): a venv made from it with
  # --system-site-packages would see the base interpreter's packages, not torch. Ours go to a folder of their own, first
  # on the path, so that our pins win over the image's newer transformers and tokenizers (the device README's recipe).
  python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/refine-af-site .whl/*.whl
  export PYTHONPATH="/tmp/refine-af-site${PYTHONPATH:+:$PYTHONPATH}"
  python=python3
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.csv" || true
fi
export PYTHONUNBUFFERED=1
# Inside the device tool's 10-minute limit, with time left for `plan --calibrate` and to bring $OUT back.
status=0
timeout 420 "$python" bench/gpu_check.py --out "$OUT" "$@" || status=$?

# `refine-af plan --calibrate` on this machine, on the rehearsal's tiny models: only where the command exists (Node, the
# package's node_modules and a build that has `plan`); otherwise the report says why it did not run.
plan_report="$OUT/plan-calibrate.txt"
if ! command -v npx >/dev/null; then
  echo "plan --calibrate: skipped: no Node (npx) on this machine" | tee "$plan_report"
elif ! npx --no-install refine-af --help 2>/dev/null | grep -qE '^  plan '; then # (`plan --help` answers even without plan)
  echo "plan --calibrate: skipped: this build has no 'refine-af plan' command (or no node_modules/dist here)" | tee "$plan_report"
else
  "$python" fixtures/rehearsal_models.py runs/rehearsal-models
  device=$([[ " $* " == *" --dry-run "* ]] && echo cpu || echo cuda)
  mkdir -p /tmp/refine-af-gpu-check && config=/tmp/refine-af-gpu-check/plan.yaml
  # configs/rehearsal.yaml (tiny models, the lab's 4-bit stages) with the device pinned, so that a missing GPU is an error.
  sed "s/^models:\$/models:\n  device: ${device}/" configs/rehearsal.yaml >"$config"
  timeout 120 npx --no-install refine-af plan --calibrate --config "$config" 2>&1 | tee "$plan_report" || status=$?
fi
exit "$status"
