#!/usr/bin/env bash
# The one prepared GPU script: the paper's Table 3 (FPS and energy beside the paper's 208.5 FPS
# and 6.81 J for zxVAD), a batch × precision throughput sweep and zxVAD's training throughput,
# written to benchmarks/results/gpu_check_<hardware>.md. --dry-run runs it on the CPU, quickly.
#
#   bash benchmarks/gpu_check.sh [--dry-run] [--out FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python benchmarks/gpu_check.py "$@"
