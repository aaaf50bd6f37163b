#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the modules whose failures cost users results: the optimizer,
# the metrics, checkpoints and resume, the run registry's claims, the leaderboard check. Each
# mutant (an operator, constant, condition or name changed) runs the tests that cover the
# function it changed; a mutant no test kills is a change the tests cannot see.
#
#   bash scripts/mutation.sh            # every group below, one after another
#   bash scripts/mutation.sh optim      # one group
#
# Each group mutates one module against the tests that exercise it, in a scratch copy of the
# working tree (mutmut writes its mutants/ there), and writes docs/mutation/<group>.txt: the score
# and the diff of every surviving mutant. Too slow for CI (about an hour on 2 cores for all).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py=$repo/.venv/bin/python
$py -m pip install -q "mutmut==3.8.1" 2>/dev/null
export METABNN_DATA="${METABNN_DATA:-$repo/../shared/data}"
# mutmut forks each mutant's test run from a parent that already ran torch: with more than one
# thread the child deadlocks in the parent's OpenMP pool and every mutant "times out"
export METABNN_TEST_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
out=$repo/docs/mutation
mkdir -p "$out"

# group: module | test files (space-separated)
declare -A MUTATION_GROUPS=(
  [metrics]="metabnn/metrics.py|tests/test_metrics.py tests/test_leaderboard_check.py"
  [optim]="metabnn/optim.py|tests/test_optim.py"
  [check]="metabnn/leaderboard/check.py|tests/test_leaderboard_check.py"
  [registry]="metabnn/runs.py|tests/test_runs_db.py tests/test_registry_concurrency.py tests/test_damaged_files.py"
  [checkpoint]="metabnn/checkpoint.py|tests/test_checkpoint.py tests/test_damaged_files.py"
  [resume]="metabnn/resume.py|tests/test_resume_parts.py tests/test_resume.py tests/test_checkpoint.py tests/test_damaged_files.py"
)
order=(metrics optim check registry checkpoint resume)
[ $# -gt 0 ] && order=("$@")

for group in "${order[@]}"; do
  IFS='|' read -r module tests <<< "${MUTATION_GROUPS[$group]}"
  scratch=$(mktemp -d)
  git ls-files -z | xargs -0 -I{} cp --parents -P {} "$scratch" 2>/dev/null || true
  cp -P --parents $(git ls-files --others --exclude-standard) "$scratch" 2>/dev/null || true
  cd "$scratch"
  sel=$(printf '"%s", ' $tests)
  # this group's module and tests replace the [tool.mutmut] lists of pyproject.toml
  $py - "$module" "$sel" <<'PY'
import re, sys
module, sel = sys.argv[1], sys.argv[2]
text = open("pyproject.toml").read()
text = re.sub(r"only_mutate = \[[^\]]*\]", f'only_mutate = ["{module}"]', text)
text = re.sub(r"pytest_add_cli_args_test_selection = \[[^\]]*\]",
              f"pytest_add_cli_args_test_selection = [{sel}]", text)
open("pyproject.toml", "w").write(text)
PY
  start=$(date +%s)
  "$repo/.venv/bin/mutmut" run > /dev/null 2>&1 || true
  "$repo/.venv/bin/mutmut" results --all true > results.txt 2>&1 || true
  killed=$(grep -c ": killed" results.txt || true)
  survived=$(grep -c ": survived" results.txt || true)
  other=$(grep -vc ": killed\|: survived" results.txt || true)
  {
    echo "# $group: $module against $tests"
    echo "killed $killed, survived $survived, other $other ($(( $(date +%s) - start )) s)"
    grep -v ": killed\|: survived" results.txt | sed 's/^/other: /' || true
    for m in $(grep ": survived" results.txt | awk -F: '{print $1}'); do
      echo; echo "## $m"; "$repo/.venv/bin/mutmut" show "$m" 2>&1 | grep "^[-+] " || true
    done
  } > "$out/$group.txt"
  head -2 "$out/$group.txt"
  cd "$repo"
  rm -rf "$scratch"
done
