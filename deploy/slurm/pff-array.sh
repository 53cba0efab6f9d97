#!/usr/bin/env bash
# pff on Slurm: a job array with one task per shard, then a dependent merge job.
#   sbatch deploy/slurm/pff-array.sh MANIFEST.yaml OUT_DIR
# Array task K runs `pff run --shard auto/N` (K from SLURM_ARRAY_TASK_ID); keep N equal to the
# array size. A requeued task resumes its shard.
#SBATCH --job-name=pff
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=06:00:00
#SBATCH --output=pff-%A_%a.log
set -euo pipefail

N=8
MANIFEST=${1:?usage: sbatch pff-array.sh MANIFEST.yaml OUT_DIR}
OUT=${2:?usage: sbatch pff-array.sh MANIFEST.yaml OUT_DIR}

pff run "$MANIFEST" --shard "auto/$N" --resume --quiet \
  --max-workers "${SLURM_CPUS_PER_TASK:-2}" \
  --output "$OUT/shard-${SLURM_ARRAY_TASK_ID}-of-$N" || status=$?

# The last array task to start submits the merge, to run once all shards have finished.
if [ "${SLURM_ARRAY_TASK_ID}" -eq "$((N - 1))" ]; then
  sbatch --dependency="afterany:${SLURM_ARRAY_JOB_ID}" --job-name=pff-merge --wrap \
    "pff merge $OUT/shard-*-of-$N --output $OUT/merged"
fi
# 0 clean, 1 violations found, 3 some tasks failed: only 2 (bad input) fails the array task.
if [ "${status:-0}" -eq 2 ]; then exit 2; fi
exit 0
