#!/usr/bin/env bash
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Kills a checkpointing writer with SIGKILL at random points, many times over,
# and checks every restart:
#   - the restore succeeds (the writer exits 3 otherwise);
#   - it restores the newest completed checkpoint or a later one, and exactly
#     the state that checkpoint saved (by digest);
#   - no temp file is left once the directory is opened again;
#   - right after each completed checkpoint exactly `retain` (3) checkpoint
#     files remain (fewer only before 3 were ever completed).
#
#   checkpoint_crash.sh WRITER [CYCLES] [WORK_DIR] [extra writer arguments...]
#
# WRITER is the sluice_crash_writer binary; CYCLES defaults to 30.
set -uo pipefail

writer=${1:?usage: checkpoint_crash.sh WRITER [CYCLES] [WORK_DIR] [writer args...]}
cycles=${2:-30}
work=${3:-$(mktemp -d)}
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")

dir="$work/checkpoints"
rm -rf "$dir" "$work"/out.* "$work"/err.*
mkdir -p "$work"

declare -A digest_of=()   # checkpoint id -> digest it saved
last_done=0                # newest checkpoint reported complete
pending=""                 # digest of the last checkpoint started
kills=0 verified=0 completed=0 failures=0 completed_ids=0
during_start=0 during_decisions=0 during_checkpoint=0 during_shutdown=0
RANDOM=${SLUICE_CRASH_SEED:-4242}

fail() {
  echo "FAIL (cycle $1): $2" >&2
  failures=$((failures + 1))
}

run_cycle() {
  local i=$1 kill_it=$2 out="$work/out.$1" err="$work/err.$1"
  # Random length of the run (so some kills land during the final Stop) and
  # a random moment to kill it.
  local rounds=$(( RANDOM % 12 + 1 ))
  "$writer" --dir "$dir" --seed "$i" --rounds "$rounds" "${extra[@]}" >"$out" 2>"$err" &
  local pid=$!
  if [[ $kill_it == 1 ]]; then
    sleep "$(printf '0.%03d' $(( RANDOM % 400 )))"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  fi
  { wait "$pid"; } 2>/dev/null
  local rc=$?
  if [[ $rc != 0 && $rc != 137 ]]; then
    fail "$i" "writer exited $rc: $(tail -n 3 "$err")"
  fi
  # Where the kill landed, from the last line the writer said.
  if [[ $rc == 137 ]]; then
    local last done_here
    last=$(tail -n 1 "$out" | cut -d' ' -f1)
    done_here=$(grep -c '^checkpoint ' "$out")
    case $last in
      ""|restored|temp_files) during_start=$((during_start + 1)) ;;
      checkpoint_files|checkpoint) during_decisions=$((during_decisions + 1)) ;;
      pending)
        if (( done_here >= rounds )); then during_shutdown=$((during_shutdown + 1))
        else during_checkpoint=$((during_checkpoint + 1)); fi ;;
    esac
  fi
  while read -r what a b; do
    case $what in
      restored)
        verified=$((verified + 1))
        if [[ $a == 0 ]]; then
          [[ $last_done == 0 ]] || fail "$i" "nothing restored although checkpoint $last_done completed"
        elif (( a < last_done )); then
          fail "$i" "restored checkpoint $a, older than completed checkpoint $last_done"
        elif [[ -n ${digest_of[$a]:-} ]]; then
          [[ $b == "${digest_of[$a]}" ]] || fail "$i" "checkpoint $a restored $b, saved ${digest_of[$a]}"
        else
          # Completed but killed before it could say so: the state it was saving.
          [[ $b == "$pending" ]] || fail "$i" "checkpoint $a restored $b, pending state was $pending"
          digest_of[$a]=$b
          last_done=$a
          completed_ids=$((completed_ids + 1))
        fi
        ;;
      temp_files) [[ $a == 0 ]] || fail "$i" "$a temp files left after opening the directory" ;;
      retained)
        want=$(( completed_ids < 3 ? completed_ids : 3 ))
        (( a >= want && a <= 3 )) || fail "$i" "$a checkpoint files retained (retain is 3)" ;;
      pending) pending=$a ;;
      checkpoint)
        [[ -n ${digest_of[$a]:-} ]] || completed_ids=$((completed_ids + 1))
        digest_of[$a]=$b
        last_done=$a
        completed=$((completed + 1))
        ;;
    esac
  done <"$out"
}

for ((i = 1; i <= cycles; i++)); do
  run_cycle "$i" 1
done
# A last run that is not killed: it restores what the kills left and finishes.
run_cycle $((cycles + 1)) 0
leftover=$(find "$dir" -name '*.tmp' | wc -l)
(( leftover == 0 )) || fail end "$leftover temp files left after a clean stop"

echo "checkpoint crash test: $cycles cycles, $kills kills (starting $during_start, deciding $during_decisions," \
  "checkpointing $during_checkpoint, stopping $during_shutdown), $verified restores verified," \
  "$completed checkpoints completed, $failures failures"
(( failures == 0 ))
