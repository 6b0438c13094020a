#!/usr/bin/env bash
# The GPU checks of the "Speed" issue, in about 6 minutes on one H100/H200:
#   1. train_step.py: imagenet128 at batch 256, fast vs reference (the reference's batch
#      is halved until it fits, and the output says so);
#   2. attention_memory.py: one attention block at 32x32, 64x64, 128x128;
#   3. numerics.py: 300 digits steps, bf16 fast path vs the fp32 reference;
#   4. host_syncs.py: synchronising CUDA operations per training step (0 wanted on steps
#      that neither log nor checkpoint).
# It appends a markdown section (device name, date, tables) to benchmarks/RESULTS.md.
#
# SAGAN_GPU_CHECK_DRYRUN=1 runs every command on the CPU at tiny sizes, to check the
# script itself; its section is written to a scratch file instead of RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=$(mktemp -d)

if [[ "${SAGAN_GPU_CHECK_DRYRUN:-0}" == "1" ]]; then
  DEV="--device cpu"
  TRAIN_ARGS="--preset digits --batch 8 --iters 1 --warmup 1 --no-compile"
  ATTN_ARGS="--batch 1 --iters 1 --sizes 32"
  NUM_ARGS="--steps 3 --batch 8 --precision bf16"
  SYNC_ARGS="--steps 4 --every 2"
  DEVICE_NAME="cpu (dry run)"
  RESULTS="$OUT/RESULTS-dryrun.md"
  T1=900 T2=900 T3=900 T4=900  # a shared CPU is slow; the limits are for the GPU
else
  DEV="--device cuda"
  TRAIN_ARGS="--preset imagenet128 --batch 256 --iters 10 --warmup 5"
  ATTN_ARGS="--batch 8 --iters 10"
  NUM_ARGS="--steps 300 --batch 32 --precision bf16"
  SYNC_ARGS="--steps 24 --every 8"
  DEVICE_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  RESULTS="benchmarks/RESULTS.md"
  T1=240 T2=60 T3=90 T4=45  # seconds: 7.3 minutes at most in all
fi

# shellcheck disable=SC2086  # the argument strings are meant to split
timeout "$T1" "$PY" benchmarks/train_step.py $TRAIN_ARGS $DEV --json "$OUT/train.json" \
  | tee "$OUT/train.txt"
# shellcheck disable=SC2086
timeout "$T2" "$PY" benchmarks/attention_memory.py $ATTN_ARGS $DEV --json "$OUT/attn.json" \
  | tee "$OUT/attn.txt"
# shellcheck disable=SC2086
timeout "$T3" "$PY" benchmarks/numerics.py $NUM_ARGS $DEV --json "$OUT/num.json" \
  | tee "$OUT/num.txt"
# shellcheck disable=SC2086
timeout "$T4" "$PY" benchmarks/host_syncs.py $SYNC_ARGS $DEV --json "$OUT/sync.json" \
  | tee "$OUT/sync.txt"

"$PY" - "$OUT" "$DEVICE_NAME" "$RESULTS" <<'EOF'
import datetime, json, sys
out, device, results = sys.argv[1:]
train = json.load(open(f"{out}/train.json"))
attn = json.load(open(f"{out}/attn.json"))
num = json.load(open(f"{out}/num.json"))
sync = json.load(open(f"{out}/sync.json"))
lines = [f"\n## GPU: {device}, {datetime.date.today()}\n",
         f"train_step.py, preset {train['preset']}:\n",
         "| path | setting | batch | ms/iter | images/s | peak MiB | TFLOP/iter | MFU |",
         "|---|---|---|---|---|---|---|---|"]
for r in train["rows"]:
    mem = r.get("peak_memory_MiB", r.get("saved_activations_MiB", "n/a"))
    mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
    lines.append(f"| {r['path']} | {r['setting']} | {r['batch']} | {r['ms_per_iter']} | "
                 f"{r['images_per_s']} | {mem} | {r['flops_per_iter'] / 1e12:.3f} | {mfu} |")
lines += [f"\nspeed-up (images/s): {train['speedup']}x\n",
          f"attention_memory.py, batch {attn['batch']}:\n",
          "| map | C | variant | path | memory MiB | ms fwd+bwd |", "|---|---|---|---|---|---|"]
for r in attn["rows"]:
    mem = r.get("peak_MiB", r.get("saved_activations_MiB"))
    lines.append(f"| {r['size']}x{r['size']} | {r['channels']} | {r['variant']} | {r['path']} "
                 f"| {mem} | {r['ms']} |")
lines.append(f"\nnumerics.py (digits, bf16 fast vs fp32 reference): gap {num['fast_gap']:.4f}, "
             f"seed-to-seed gap {num['seed_gap']:.4f}: {'PASS' if num['pass'] else 'FAIL'}\n")
lines.append(f"host_syncs.py ({sync['device']}): per step, "
             f"{sorted(set(sync['quiet_steps'].values()))} on steps that neither log nor "
             f"checkpoint (0 wanted), {sorted(set(sync['reading_steps'].values()))} on those that do\n")
with open(results, "a") as f:
    f.write("\n".join(lines))
print(f"wrote {results}")
EOF
