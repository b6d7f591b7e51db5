#!/usr/bin/env bash
# Installs what tests/test_slurm.py needs, where it is missing: Debian's slurm-wlm (slurmctld,
# slurmd, sbatch...) and munge. Only as root on a machine with apt-get; anywhere else it says why
# and leaves the machine alone (the Slurm tests then skip with that reason). Never fails `make test`.
set -uo pipefail

if command -v sinfo >/dev/null && command -v munged >/dev/null; then
    exit 0
fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "note: Slurm is not installed and this is not root with apt-get: the Slurm tests will skip" \
         "(install slurm-wlm and munge to run them)"
    exit 0
fi
echo "installing slurm-wlm and munge for the Slurm tests (tests/setup_slurm.sh)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
       { apt-get update -qq >/dev/null 2>&1 &&
         apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; }; }; then
    echo "note: apt-get could not install slurm-wlm and munge: the Slurm tests will skip"
fi
exit 0
