#!/usr/bin/env bash
# Keep exactly one OpenCV: opencv-python-headless. Ultralytics depends on opencv-python, which
# installs the same cv2/ folder (GUI build, needs libGL); uninstalling either package deletes
# cv2/ entirely. So: remove opencv-python, then force-reinstall the headless wheel of the same
# version. Usage: bash scripts/fix-opencv-headless.sh [PIP]   (default: pip)
set -euo pipefail
PIP=${1:-pip}
PY="$(dirname "$PIP")/python"; [ -x "$PY" ] || PY=python3
if "$PIP" show -q opencv-python >/dev/null 2>&1; then
  ver=$("$PY" -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))")
  "$PIP" uninstall -y -q opencv-python
  "$PIP" install -q --force-reinstall --no-deps "opencv-python-headless==$ver"
fi
