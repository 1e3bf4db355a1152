"""HTTP load from wrk (Debian's `wrk`): found on PATH or installed with apt-get, and said so."""

import json
import os
import shutil
import subprocess
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"


def find_wrk(*, install=True, log=print):
    """Path of wrk; installs Debian's package when missing and we are root. Raises when neither works."""
    path = shutil.which("wrk")
    if path:
        log(f"   load generator: wrk found at {path}")
        return path
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        log("   load generator: wrk is missing; installing Debian's package (apt-get install -y wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run = subprocess.run(  # noqa: S603
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],  # noqa: S607
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)  # noqa: S603, S607
            run = subprocess.run(  # noqa: S603
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],  # noqa: S607
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        path = shutil.which("wrk")
        if path:
            log(f"   load generator: installed wrk at {path}")
            return path
        raise RuntimeError(f"apt-get install wrk failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    raise RuntimeError("wrk is not installed: `apt-get install wrk` (Debian) and run the bench again.")


def run_wrk(wrk, url, script, args=(), *, duration, connections=8, threads=2, headers=None, timeout=30):
    """Run wrk against `url` with a Lua script from bench/lua/; return its BENCH_JSON report."""
    argv = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout}s",
        "-s", str(LUA_DIR / script), "--latency",
    ]  # fmt: skip
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv += [url, *(str(a) for a in args)]
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA_DIR)}
    run = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    for line in run.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            report = json.loads(line[len("BENCH_JSON ") :])
            report["seconds"] = report["duration_us"] / 1e6
            report["rps"] = report["requests"] / report["seconds"] if report["seconds"] else 0.0
            report["errors"] = sum(report[k] for k in report if k.startswith("errors_"))
            return report
    raise RuntimeError(f"wrk gave no report (exit {run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
