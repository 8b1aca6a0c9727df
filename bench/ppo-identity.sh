#!/usr/bin/env bash
# Stage 2 of configs/default.yaml at another commit and at this checkout, on one finished demo's stage-1 pool, one
# thread each, then compared: rollouts and checkpoint tensors byte for byte, metrics but for wall-clock fields
# (docs/stack.md, "On the demo, byte for byte"). Needs `make demo` done here (runs/default). Usage: bench/ppo-identity.sh COMMIT
set -euo pipefail
base=${1:?usage: bench/ppo-identity.sh COMMIT}
here=$(pwd)
work=$(mktemp -d /tmp/ppo-identity.XXXX)
pool=runs/default/machine_instructions.jsonl
test -s "$pool" || { echo "no $pool: run make demo first" >&2; exit 1; }
git worktree add --detach "$work/base" "$base" >/dev/null
trap 'git -C "$here" worktree remove --force "$work/base"' EXIT
ln -s "$here/node_modules" "$work/base/node_modules"
ln -s "$here/.venv" "$work/base/.venv" # the worker imports the base commit's py/ through PYTHONPATH
(cd "$work/base" && npx tsc -p tsconfig.build.json)
npx tsc -p tsconfig.build.json
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for side in base here; do
  tree=$([ "$side" = base ] && echo "$work/base" || echo "$here")
  mkdir -p "$work/run-$side"
  cp "$pool" runs/default/machine_instructions.state.json "$work/run-$side/"
  sed "s#dir: runs/default#dir: $work/run-$side#" "$tree/configs/default.yaml" > "$work/$side.yaml"
  (cd "$tree" && PYTHONPATH="$tree/py" node dist/cli.js train-rlaf --config "$work/$side.yaml" --json > "$work/$side.json")
done
differing=0
same() { # prints whether two files are byte-identical; any that differs makes the script fail
  if cmp -s "$work/run-base/rlaf/$1" "$work/run-here/rlaf/$1"; then echo "$1: identical"; else echo "$1: DIFFERS"; differing=1; fi
}
same rollouts.jsonl
for step in "$work"/run-here/rlaf/checkpoints/*/; do
  for f in adapter/adapter_model.safetensors optimizer.pt value_head.pt; do same "checkpoints/$(basename "$step")/$f"; done
done
"$here/.venv/bin/python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
load = lambda side: [json.loads(l) for l in open(f"{work}/run-{side}/rlaf/metrics.jsonl")]
wall = {"seconds", "seconds_ppo"}
base, here = load("base"), load("here")
diff = [(a["step"], k) for a, b in zip(base, here) for k in a.keys() | b.keys() if k not in wall and a.get(k) != b.get(k)]
diff += [("steps", len(base), len(here))] if len(base) != len(here) else []
print("metrics.jsonl: equal but for wall-clock fields" if not diff else f"metrics.jsonl DIFFERS: {diff}")
sys.exit(1 if diff else 0)
PY
exit "$differing"
