#!/usr/bin/env bash
# Run README's test command under other Python interpreters, each in a fresh venv of its own.
# Usage: bash scripts/test_pythons.sh PYTHON [PYTHON ...]   (e.g. ~/.pyenv/versions/3.13.0/bin/python)
# Venvs go to ${VENVS:-/tmp/cvdenoise-venvs}/<version> (pip's output in install.log there); one line per interpreter.
set -u
if [ $# -eq 0 ]; then
  echo "usage: bash scripts/test_pythons.sh PYTHON [PYTHON ...]" >&2
  exit 2
fi
root=$(realpath -m "${VENVS:-/tmp/cvdenoise-venvs}")
pythons=()
for py in "$@"; do  # absolute, before the cd below: a path as it is, a bare name from PATH
  case "$py" in */*) pythons+=("$(realpath -m "$py")") ;; *) pythons+=("$(command -v "$py" || echo "$py")") ;; esac
done
cd "$(dirname "$0")/.."
summary=()
failed=0
for py in "${pythons[@]}"; do
  version=$("$py" -c 'import platform; print(platform.python_version())') || { summary+=("$py: not runnable"); failed=1; continue; }
  venv="$root/$version"
  rm -rf "$venv" && "$py" -m venv "$venv" || { summary+=("$version: no venv"); failed=1; continue; }
  if ! "$venv/bin/pip" install -q -e ".[test,dicom,onnx]" > "$venv/install.log" 2>&1; then
    summary+=("$version: install failed (see $venv/install.log)"); failed=1; continue
  fi
  result=$(NO_ALBUMENTATIONS_UPDATE=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tail -1)
  case "$result" in *failed*|*error*|"") failed=1 ;; esac
  summary+=("$version: $result")
done
printf '%s\n' "${summary[@]}"
exit $failed  # (1 if any interpreter failed to install or to pass)
