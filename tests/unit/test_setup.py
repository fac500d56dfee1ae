"""scripts/setup.sh: idempotence and clear failures (it is what `make setup` runs)."""

import os
import subprocess

from conftest import ROOT

SETUP = ROOT / "scripts" / "setup.sh"


def run_setup(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    return subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=600)


def test_second_run_does_nothing():
    # The suite runs after `make setup`, so everything is up to date: no step may rerun.
    proc = run_setup({})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"setup: ready: {ROOT}/.venv (activate with '. .venv/bin/activate', or use .venv/bin/armbrain)"]


def test_missing_python_is_named_with_its_debian_package(tmp_path):
    proc = run_setup({"PYTHON": "python3.11-does-not-exist", "ARMBRAIN_VENV": str(tmp_path / "venv")})
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("setup: error: 'python3.11-does-not-exist' not found; install it "
                                   "(Debian/Ubuntu: apt-get install python3.11 python3.11-venv)")
    assert not (tmp_path / "venv").exists()


def test_unsatisfiable_lock_fails_loudly_and_leaves_no_stamp(tmp_path):
    lock = tmp_path / "bad.lock"
    lock.write_text("numpy==0.0.1.dev404\n")
    venv = tmp_path / "venv"
    proc = run_setup({"ARMBRAIN_LOCK": str(lock), "ARMBRAIN_VENV": str(venv)})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("setup: error: bad.lock cannot be satisfied (pip output above); "
                    "fix the pin and rerun 'make setup'")
    assert "numpy==0.0.1.dev404" in proc.stderr  # pip's own line names the pin
    assert not (venv / ".armbrain" / "deps").exists()  # a rerun retries the install
