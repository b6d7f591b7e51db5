#!/usr/bin/env bash
# Grade a class on a Slurm cluster: one array task per shard of the students, then one merge job
# that starts when all of them succeeded. Prints the two job ids.
#
#   autograder/slurm/submit.sh --submissions class.zip --shards 8 --shard-dir /shared/grading
#   autograder/slurm/submit.sh ... --only 3,5        # again, only shards 3 and 5 (a new merge job too)
#   autograder/slurm/submit.sh ... -- --partition=short --account=cs336   # anything after -- goes to sbatch
#
# Every option can also come from the environment (SUBMISSIONS, SHARDS, SHARD_DIR, COURSE, PYTHON,
# JOBS, GRADE_ARGS, MERGE_ARGS); sbatch's SBATCH_* variables work too. Run it with the kit's
# environment active: the jobs inherit it. SHARD_DIR must be on a filesystem every node shares.
#
# A GPU partition changes nothing for grading (the lessons run in fast mode on CPU); if the
# CPU nodes are the GPU nodes, give `-- --partition=gpu` and no --gres.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIT_ROOT=${KIT_ROOT:-$(cd "$here/../.." && pwd)}
SHARDS=${SHARDS:-4}
ONLY=${ONLY:-}
SHARD_DIR=${SHARD_DIR:-$PWD/grading-shards}
COURSE=${COURSE:-$KIT_ROOT/autograder}
PYTHON=${PYTHON:-$(command -v python3)}
SUBMISSIONS=${SUBMISSIONS:-}
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
    case $1 in
        --submissions) SUBMISSIONS=$2; shift 2 ;;
        --shards) SHARDS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --shard-dir) SHARD_DIR=$2; shift 2 ;;
        --course) COURSE=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -n $SUBMISSIONS ]] || { echo "error: give --submissions FOLDER-OR-ZIP (see --help)" >&2; exit 2; }
[[ -e $SUBMISSIONS ]] || { echo "error: $SUBMISSIONS does not exist" >&2; exit 2; }
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "error: --shards takes a whole number >= 1, got $SHARDS" >&2; exit 2; }
if [[ -n $ONLY ]]; then   # shard numbers 1..N -> array ids 0..N-1
    array=$(tr ',' '\n' <<<"$ONLY" | while read -r i; do
        [[ $i =~ ^[0-9]+$ && $i -ge 1 && $i -le $SHARDS ]] || { echo "error: --only $ONLY: shards are 1..$SHARDS" >&2; exit 2; }
        echo $((i - 1)); done | paste -sd,)
else
    array=0-$((SHARDS - 1))
fi
mkdir -p "$SHARD_DIR"
SUBMISSIONS=$(cd "$(dirname "$SUBMISSIONS")" && pwd)/$(basename "$SUBMISSIONS")
SHARD_DIR=$(cd "$SHARD_DIR" && pwd)
export KIT_ROOT SHARDS SHARD_DIR COURSE PYTHON SUBMISSIONS
logs=(--chdir="$SHARD_DIR")
array_job=$(sbatch --parsable "${logs[@]}" --array="$array" "$@" "$here/grade-shard.sbatch")
array_job=${array_job%%;*}
merge_job=$(sbatch --parsable "${logs[@]}" --dependency="afterok:$array_job" "$@" "$here/grade-merge.sbatch")
merge_job=${merge_job%%;*}
echo "shards: job $array_job (array $array of $SHARDS shards into $SHARD_DIR)"
echo "merge:  job $merge_job (after every shard succeeded, into $COURSE)"
echo "$array_job $merge_job" > "$SHARD_DIR/last-submission"
