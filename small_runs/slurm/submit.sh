#!/usr/bin/env bash
# Run a sweep on a Slurm cluster: one array task per shard of the grid, then one merge job that
# starts when all of them succeeded. Prints the two job ids.
#
#   small_runs/slurm/submit.sh --grid small_runs/grid.toml --shards 8 --out /shared/sweep
#   small_runs/slurm/submit.sh ... --only 3,5        # again, only shards 3 and 5 (a new merge job too)
#   small_runs/slurm/submit.sh ... -- --partition=long --account=ml   # anything after -- goes to sbatch
#
# Every option can also come from the environment (GRID, SHARDS, OUT, PYTHON, DEVICE, JOBS,
# THREADS, SWEEP_ARGS); sbatch's SBATCH_* variables work too. Run it with the kit's environment
# active: the jobs inherit it. OUT must be on a filesystem every node shares.
#
# GPU partition: DEVICE=cuda JOBS=1 small_runs/slurm/submit.sh ... --gpu -- --partition=gpu
# (--gpu asks each array task for --gres=gpu:1 and 2 CPUs; the merge job needs no GPU).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIT_ROOT=${KIT_ROOT:-$(cd "$here/../.." && pwd)}
GRID=${GRID:-$KIT_ROOT/small_runs/grid.toml}
SHARDS=${SHARDS:-4}
ONLY=${ONLY:-}
OUT=${OUT:-}
PYTHON=${PYTHON:-$(command -v python3)}
GPU=()
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
    case $1 in
        --grid) GRID=$2; shift 2 ;;
        --shards) SHARDS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --gpu) GPU=(--gres=gpu:1 --cpus-per-task=2); shift ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -n $OUT ]] || { echo "error: give --out FOLDER on a shared filesystem (see --help)" >&2; exit 2; }
[[ -f $GRID ]] || { echo "error: grid file $GRID does not exist" >&2; exit 2; }
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "error: --shards takes a whole number >= 1, got $SHARDS" >&2; exit 2; }
if [[ -n $ONLY ]]; then   # shard numbers 1..N -> array ids 0..N-1
    array=$(tr ',' '\n' <<<"$ONLY" | while read -r i; do
        [[ $i =~ ^[0-9]+$ && $i -ge 1 && $i -le $SHARDS ]] || { echo "error: --only $ONLY: shards are 1..$SHARDS" >&2; exit 2; }
        echo $((i - 1)); done | paste -sd,)
else
    array=0-$((SHARDS - 1))
fi
"$PYTHON" -m tinychinchilla.sweep --grid "$GRID" --list > /dev/null   # a bad grid: one line now, not N failed tasks
mkdir -p "$OUT"
GRID=$(cd "$(dirname "$GRID")" && pwd)/$(basename "$GRID")
OUT=$(cd "$OUT" && pwd)
export KIT_ROOT GRID SHARDS OUT PYTHON
array_job=$(sbatch --parsable --chdir="$OUT" --array="$array" "${GPU[@]}" "$@" "$here/sweep-shard.sbatch")
array_job=${array_job%%;*}
merge_job=$(sbatch --parsable --chdir="$OUT" --dependency="afterok:$array_job" "$@" "$here/sweep-merge.sbatch")
merge_job=${merge_job%%;*}
echo "shards: job $array_job (array $array of $SHARDS shards into $OUT/shard-I-of-$SHARDS)"
echo "merge:  job $merge_job (after every shard succeeded: $OUT/runs.csv)"
echo "$array_job $merge_job" > "$OUT/last-submission"
