#!/usr/bin/env bash
# armbrain setup: creates/refreshes .venv with the pinned dependencies, builds
# brain_interfaces (and tf2_msgs where the system has none) into it and installs the Python packages in editable mode.
#
# Idempotent: every step records a stamp (a hash of its inputs) in
# .venv/.armbrain/ only after it succeeded, so a rerun with nothing changed does
# nothing, a changed requirements.lock reinstalls and rebuilds, a changed .msg
# rebuilds only the interfaces. A failed step leaves no stamp: the rerun redoes it.
#
# Also used by docker/Dockerfile (one script for both).
#
# Environment: ARMBRAIN_VENV (default .venv), ARMBRAIN_LOCK (default requirements.lock),
# PYTHON (default python3.11), ARMBRAIN_SETUP_UNTIL=deps to stop after the pinned
# dependencies (the Dockerfile installs them in a layer of their own; default: all steps).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ARMBRAIN_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
STAMPS="$VENV/.armbrain"
LOCK="${ARMBRAIN_LOCK:-$ROOT/requirements.lock}"
# ament_python packages installed in editable mode (path relative to ROOT).
PY_PACKAGES=(ros2_ws/src/brain_common ros2_ws/src/armbrain ros2_ws/src/perception ros2_ws/src/grasping ros2_ws/src/planner sim)
INTERFACES=ros2_ws/src/brain_interfaces
# Standard interfaces missing from PyPI, built only where the system lacks them (see its README).
TF2_MSGS=ros2_ws/vendor/tf2_msgs

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

need() {  # need COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it (Debian/Ubuntu: apt-get install $2)"
}

hash_of() {  # stable hash of the given files' contents and names
  (cd "$ROOT" && sha256sum "$@" | sha256sum | cut -c1-16)
}

stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s' "$2" > "$STAMPS/$1"; }

UNTIL="${ARMBRAIN_SETUP_UNTIL:-all}"
[[ "$UNTIL" == deps || "$UNTIL" == all ]] || die "ARMBRAIN_SETUP_UNTIL=$UNTIL is not valid; choices: deps, all"

# --- 0. tools the build needs -------------------------------------------------
need "$PYTHON" "python3.11 python3.11-venv"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
  || die "$PYTHON is $("$PYTHON" --version 2>&1), armbrain needs Python 3.11 (the ROS 2 kilted wheels are cp311); set PYTHON=/path/to/python3.11"
need cmake cmake
need g++ g++
need make make
need sha256sum coreutils

# --- 1. the virtual environment -------------------------------------------------
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  say "$VENV is broken or not Python 3.11; recreating it"
  rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; die "'$PYTHON -m venv' failed; install the venv module (Debian/Ubuntu: apt-get install python3.11-venv)"; }
fi
VPY="$VENV/bin/python"

# --- 2. pinned dependencies ------------------------------------------------------
deps_hash="$(sha256sum "$LOCK" | cut -c1-16)"
if ! stamp_ok deps "$deps_hash"; then
  say "installing pinned dependencies from requirements.lock"
  rm -f "$STAMPS/deps" "$STAMPS/interfaces" "$STAMPS/tf2_msgs" "$STAMPS/packages"
  log="$(mktemp)"
  if ! "$VPY" -m pip install --disable-pip-version-check --no-deps -r "$LOCK" >"$log" 2>&1; then
    grep -E '^(ERROR|error):' "$log" | tail -n 3 >&2 || tail -n 5 "$log" >&2
    rm -f "$log"
    die "$(basename "$LOCK") cannot be satisfied (pip output above); fix the pin and rerun 'make setup'"
  fi
  rm -f "$log"
  if ! "$VPY" -m pip check >/dev/null 2>&1; then
    "$VPY" -m pip check >&2 || true
    die "requirements.lock is incomplete: a pinned package needs one that is not pinned (listed above)"
  fi
  # The ROS wheels' exported CMake files carry the wheel-build machine's Python
  # include paths; point them at this interpreter and numpy (ROS_ON_PIP.md).
  "$VPY" - "$VENV" <<'EOF'
import pathlib, sys, sysconfig
import numpy
venv = pathlib.Path(sys.argv[1])
fix = {
    "/opt/python/cp311-cp311/include/python3.11": sysconfig.get_paths()["include"],
    "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
}
for f in (venv / "share").rglob("*.cmake"):
    text = f.read_text()
    if any(k in text for k in fix):
        for old, new in fix.items():
            text = text.replace(old, new)
        f.write_text(text)
EOF
  stamp_set deps "$deps_hash"
fi
if [[ "$UNTIL" == deps ]]; then
  say "pinned dependencies ready in $VENV (ARMBRAIN_SETUP_UNTIL=deps: stopping here)"
  exit 0
fi

export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"

# --- 3. interfaces (ament_cmake + rosidl) ---------------------------------------
build_interfaces() {  # build_interfaces NAME SOURCE_DIR IMPORT_CHECK: cmake build + install into the venv
  local name="$1" src="$2" check="$3"
  local build="$STAMPS/build/$name" log="$STAMPS/build/$name.log"
  say "building $name into $VENV"
  rm -rf "$build"
  mkdir -p "$STAMPS/build"
  if ! { cmake -S "$ROOT/$src" -B "$build" -DCMAKE_INSTALL_PREFIX="$VENV" \
           -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF \
         && cmake --build "$build" -j"$(nproc)" && cmake --install "$build"; } >"$log" 2>&1; then
    grep -E -A3 '(Error|error:)' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
    die "building $name failed (full log: $log)"
  fi
  "$VPY" -c "$check" || die "$name built but does not import (full log: $log)"
}

interface_files() {  # the files an interface package's build reads (its hash input)
  local dir="$1" d dirs=()
  printf '%s\n' "$dir/CMakeLists.txt" "$dir/package.xml"
  for d in msg srv action; do [[ -d "$ROOT/$dir/$d" ]] && dirs+=("$dir/$d"); done
  (cd "$ROOT" && find "${dirs[@]}" -type f | sort)
}

mapfile -t ifc_files < <(interface_files "$INTERFACES")
ifc_hash="$(hash_of "${ifc_files[@]}")-$deps_hash"
if ! stamp_ok interfaces "$ifc_hash"; then
  build_interfaces brain_interfaces "$INTERFACES" \
    'from brain_interfaces.msg import DetectedObjectArray; from brain_interfaces.action import ExecuteTask'
  stamp_set interfaces "$ifc_hash"
fi

# tf2_msgs (TFMessage, the type of /tf_static) is not on PyPI: build the standard
# definition from ros2_ws/vendor (COLCON_IGNOREd) only when the system has none. On ROS
# from apt the system's package is used; the stamp records that, so reruns stay silent.
mapfile -t tf2_files < <(interface_files "$TF2_MSGS")
tf2_hash="$(hash_of "${tf2_files[@]}")-$deps_hash"
if ! stamp_ok tf2_msgs "$tf2_hash" && ! stamp_ok tf2_msgs "system-$tf2_hash"; then
  provider="$("$VPY" -c 'import os, sys, tf2_msgs; print(os.path.dirname(os.path.realpath(tf2_msgs.__file__)))' 2>/dev/null || true)"
  if [[ -n "$provider" && "$provider" != "$(realpath "$VENV")"/* ]]; then
    say "tf2_msgs is provided by the system ($provider); not building the vendored copy"
    stamp_set tf2_msgs "system-$tf2_hash"
  else
    build_interfaces tf2_msgs "$TF2_MSGS" 'from tf2_msgs.msg import TFMessage'
    stamp_set tf2_msgs "$tf2_hash"
  fi
fi

# --- 4. Python packages, editable ----------------------------------------------
pkg_files=()
for p in "${PY_PACKAGES[@]}"; do pkg_files+=("$p/setup.py" "$p/setup.cfg" "$p/package.xml"); done
pkg_hash="$(hash_of scripts/setup.sh "${pkg_files[@]}")-$deps_hash"
if ! stamp_ok packages "$pkg_hash"; then
  say "installing the armbrain packages (editable)"
  share="$VENV/share"
  index="$share/ament_index/resource_index/packages"
  mkdir -p "$index"
  for p in "${PY_PACKAGES[@]}"; do
    name="$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$ROOT/$p/package.xml" | head -n 1)"
    [[ -n "$name" ]] || die "$p/package.xml has no <name>"
    log="$(mktemp)"
    if ! "$VPY" -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT/$p" >"$log" 2>&1; then
      tail -n 15 "$log" >&2; rm -f "$log"
      die "installing $p failed (pip output above)"
    fi
    rm -f "$log"
    # Editable installs skip data_files: register the package in the ament
    # index and point its share directory at the source tree, so
    # get_package_share_directory() works and config edits need no reinstall.
    : > "$index/$name"
    rm -rf "${share:?}/$name"
    ln -s "$ROOT/$p" "$share/$name"
  done
  # Let every interpreter of the venv find the ament index without sourcing
  # anything (get_package_share_directory needs AMENT_PREFIX_PATH).
  site="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "import os, sys; os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)" > "$site/armbrain_ament_prefix.pth"
  stamp_set packages "$pkg_hash"
fi

say "ready: $VENV (activate with '. .venv/bin/activate', or use .venv/bin/armbrain)"
