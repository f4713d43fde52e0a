#!/usr/bin/env bash
# Run README's test command under other Python interpreters, each in a fresh venv of its own.
# Usage: bash scripts/test_pythons.sh PYTHON [PYTHON ...]   (e.g. ~/.pyenv/versions/3.13.0/bin/python)
# Venvs go to ${VENVS:-/tmp/cvdenoise-venvs}/<version> (pip's output in install.log there); one line per interpreter.
set -u
cd "$(dirname "$0")/.."
root=${VENVS:-/tmp/cvdenoise-venvs}
summary=()
for py in "$@"; do
  version=$("$py" -c 'import platform; print(platform.python_version())') || { summary+=("$py: not runnable"); continue; }
  venv="$root/$version"
  rm -rf "$venv" && "$py" -m venv "$venv" || { summary+=("$version: no venv"); continue; }
  if ! "$venv/bin/pip" install -q -e ".[test,dicom,onnx]" > "$venv/install.log" 2>&1; then
    summary+=("$version: install failed (see $venv/install.log)"); continue
  fi
  result=$(NO_ALBUMENTATIONS_UPDATE=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tail -1)
  summary+=("$version: $result")
done
printf '%s\n' "${summary[@]}"
