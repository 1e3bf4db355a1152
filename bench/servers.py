"""Start and stop the processes under test, as production runs them, and read their memory."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def executable(name):
    """A console script of the venv the bench runs in (gunicorn, celery)."""
    path = BIN / name
    return str(path) if path.exists() else name


def _die_with_parent():
    """In the child before exec: get SIGTERM when the bench dies, even by SIGKILL (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Process:
    """A child process in its own process group, so stopping it stops its children too."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 - argv built here from fixed parts
            argv,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
        )

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=15):
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        self.log.close()

    def tail(self, lines=20):
        try:
            return "\n".join(Path(self.log_path).read_text().splitlines()[-lines:])
        except OSError:
            return ""


def gunicorn(name, wsgi, port, env, log_dir, workers=2):
    argv = [
        executable("gunicorn"), wsgi, "--workers", str(workers), "--worker-class", "sync",
        "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning",
    ]  # fmt: skip
    return Process(name, argv, env, log_dir / f"{name}.log")


def celery_worker(env, log_dir, concurrency=2):
    """A Celery worker; each one started logs to its own file (celery.log, celery-2.log, ...)."""
    log_path = log_dir / "celery.log"
    n = 1
    while log_path.exists():
        n += 1
        log_path = log_dir / f"celery-{n}.log"
    argv = [
        executable("celery"), "-A", "stream_portal", "worker", "--concurrency", str(concurrency),
        "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    return Process("celery", argv, env, log_path)


def wait_http(url, process, timeout=60):
    """Wait until `url` answers (any HTTP status counts: the server is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited while starting:\n{process.tail()}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - a loopback URL the bench made
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout} s:\n{process.tail()}")


def children(pid):
    """Direct children of a process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the parent id follows the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """User + system CPU time a process has used so far, in seconds (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def celery_cpu_seconds(process):
    """CPU time of the Celery main process and its pool processes, in seconds."""
    return sum(cpu_seconds(pid) for pid in [process.pid, *children(process.pid)])


def gunicorn_worker_rss(process):
    """RSS of each gunicorn worker (the master's children), MiB."""
    return [r for r in (rss_mib(pid) for pid in children(process.pid)) if r is not None]


def celery_rss(process):
    """RSS of the Celery main process and each pool process, MiB."""
    pids = [process.pid, *children(process.pid)]
    return [r for r in (rss_mib(pid) for pid in pids) if r is not None]
