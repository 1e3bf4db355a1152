"""Make the services the test suite needs answer on this machine, or say exactly how to.

`bin/test` runs this (`python -m stream_portal.devservices`) before any check, so a fresh clone on a
Debian machine needs no other step. It looks at the services that `DATABASE_URL`, `CACHE_URL` and
`CELERY_BROKER_URL` name, and at Debian's Chromium (the browser tests drive `/usr/bin/chromium`):

1. what answers is used as it is (a Redis on another port is only checked, never replaced);
2. what is missing on this machine is installed with apt (`postgresql`, `redis-server`, `chromium`, `wrk`),
   then started: the newest PostgreSQL cluster with `pg_ctlcluster`, Redis on the URL's port with
   nothing kept on disk;
3. user `postgres` may log in over loopback without a password (two `trust` lines at the top of
   `pg_hba.conf`, added once), because that is how the tests connect;
4. the database named in `DATABASE_URL` is created when missing.

Steps that need root run directly when this is root, through `sudo` otherwise. Without either it
changes nothing: it prints the commands to run as root and exits 1, so pytest never starts against
a machine that cannot pass. Services on another host are only checked. Passwords in URLs are never
printed.

It needs only the standard library, psycopg and redis (no Django settings), so it works before the
project's settings can.
"""

import argparse
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PG_LIB = Path("/usr/lib/postgresql")
PG_ETC = Path("/etc/postgresql")
HBA_MARKER = "# added by stream-portal bin/test"
HBA_LINES = (
    "host    all    postgres    127.0.0.1/32    trust",
    "host    all    postgres    ::1/128         trust",
)
LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}
WAIT_SECONDS = 30
APT_INSTALL = "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0"
NEWEST_PG = '"$(ls /usr/lib/postgresql | sort -V | tail -n 1)"'


def shown(url):
    """The URL as it may be printed: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password:
        userinfo = f"{parts.username or ''}:***"
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{userinfo}@{host}")
    return parts.geturl()


def port_open(host, port, timeout=2.0):
    """Does anything accept TCP connections at host:port?"""
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- What is there --------------------------------------------------------------------------------


@dataclass
class Postgres:
    url: str
    host: str
    port: int
    state: str = "ok"  # ok | down (nothing listens) | login (listens, refuses our login) | error
    error: str = ""
    versions: list = field(default_factory=list)  # installed server versions, oldest first
    clusters: list = field(default_factory=list)  # versions with a "main" cluster
    hba_file: str = ""
    cluster_port: int | None = None  # the port the newest cluster is configured for

    @property
    def local(self):
        return self.host in LOCAL_HOSTS or self.host.startswith("/")

    @property
    def where(self):
        return f"{self.host or 'localhost'}:{self.port}"

    @property
    def newest(self):
        return self.versions[-1] if self.versions else ""


@dataclass
class Redis:
    url: str
    names: list
    host: str
    port: int
    error: str = ""

    @property
    def local(self):
        return self.host in LOCAL_HOSTS

    @property
    def where(self):
        return f"{self.host or '127.0.0.1'}:{self.port}"


@dataclass
class Facts:
    postgres: Postgres | None
    redis: list
    chromium_missing: bool
    redis_server: bool  # is a redis-server binary on PATH?
    browser: str = ""  # the Chromium the browser tests will drive; "" when they are left out
    wrk_missing: bool = False  # the benchmark's smoke test (tests/test_bench.py) loads the server with wrk

    def problems(self):
        out = []
        pg = self.postgres
        if pg and pg.state != "ok":
            reason = {
                "down": "nothing listens there",
                "login": "user postgres cannot log in without a password",
            }.get(pg.state, "")
            out.append(f"PostgreSQL at {pg.where} ({shown(pg.url)}): {reason or pg.error}")
        for r in self.redis:
            if r.error:
                out.append(f"Redis at {r.where} ({', '.join(r.names)}={shown(r.url)}): {r.error}")
        if self.chromium_missing:
            out.append(f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium")
        if self.wrk_missing:
            out.append("wrk is missing: the benchmark's smoke test loads the server with it")
        return out


def pg_versions():
    versions = [p.parent.parent.name for p in PG_LIB.glob("*/bin/postgres")]
    return sorted(versions, key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")])


def look_at_postgres(url):
    parts = urlsplit(url)
    pg = Postgres(url=url, host=parts.hostname or "", port=parts.port or 5432)
    pg.versions = pg_versions()
    pg.clusters = [v for v in pg.versions if (PG_ETC / v / "main").is_dir()]
    import psycopg

    try:
        # The server's "postgres" database: the one the URL names may not exist yet.
        with psycopg.connect(url, dbname="postgres", connect_timeout=3, autocommit=True):
            pass
    except psycopg.Error as exc:
        pg.error = first_line(exc)
        if pg.host.startswith("/"):
            pg.state = "down" if "No such file" in pg.error else "error"
        elif port_open(pg.host, pg.port):
            pg.state = "login" if pg.local else "error"
        else:
            pg.state = "down"
    if pg.newest:
        pg.hba_file = str(PG_ETC / pg.newest / "main" / "pg_hba.conf")
        pg.cluster_port = configured_port(PG_ETC / pg.newest / "main" / "postgresql.conf")
    return pg


def configured_port(conf):
    """The `port` a cluster's postgresql.conf sets (5432 when it sets none), or None if unreadable."""
    try:
        text = conf.read_text()
    except OSError:
        return None
    found = re.findall(r"^\s*port\s*=\s*(\d+)", text, flags=re.MULTILINE)
    return int(found[-1]) if found else 5432


def look_at_redis(env):
    by_address = {}
    for name in ("CACHE_URL", "CELERY_BROKER_URL"):
        url = env.get(name, "")
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            continue
        key = (parts.hostname or "127.0.0.1", parts.port or 6379)
        if key in by_address:
            by_address[key].names.append(name)
        else:
            by_address[key] = Redis(url=url, names=[name], host=key[0], port=key[1])
    if by_address:
        import redis

        for r in by_address.values():
            try:
                redis.Redis.from_url(r.url, socket_connect_timeout=3, socket_timeout=3).ping()
                r.error = ""
            except redis.RedisError as exc:
                r.error = first_line(exc)
    return list(by_address.values())


def look(env, *, chromium=None, need_browser=True):
    db_url = env.get("DATABASE_URL", "")
    pg = look_at_postgres(db_url) if urlsplit(db_url).scheme.startswith("postgres") else None
    chromium = chromium or CHROMIUM
    return Facts(
        postgres=pg,
        redis=look_at_redis(env),
        chromium_missing=need_browser and not os.access(chromium, os.X_OK),
        redis_server=shutil.which("redis-server") is not None,
        browser=chromium if need_browser else "",
        wrk_missing=shutil.which("wrk") is None,
    )


# --- What to do about it -----------------------------------------------------------------------


@dataclass
class Step:
    """One command. `root` steps run as root (through sudo when needed); `shell` is what is printed."""

    why: str
    shell: str
    root: bool = True
    installs: bool = False


def hba_steps(pg, version):
    hba = pg.hba_file or f"/etc/postgresql/{version}/main/pg_hba.conf"
    inserts = " ".join(f"-e {shlex.quote('1i ' + line)}" for line in (HBA_MARKER, *HBA_LINES))
    return [
        Step(
            "let user postgres log in over loopback without a password (the tests do)",
            f"grep -q {shlex.quote(HBA_MARKER)} {hba} || sed -i {inserts} {hba}",
        ),
        Step("reload PostgreSQL's login rules", f"pg_ctlcluster --skip-systemctl-redirect {version} main reload"),
    ]


def plan(facts, *, manual=False):
    """The commands that make `facts` healthy, in order; [] when nothing can be done here.

    With `manual`, the plan is printed for a person, who runs it all at once: it then also
    includes the pg_hba.conf change for a PostgreSQL that is not running yet (Debian's stock rules
    ask for a password over TCP). Otherwise that change is made only once a running server has
    refused the login.
    """
    steps = []
    packages = []
    pg = facts.postgres
    if pg and pg.local and pg.state == "down" and not pg.versions:
        packages.append("postgresql")
    if not facts.redis_server and any(r.error and r.local for r in facts.redis):
        packages.append("redis-server")
    if facts.chromium_missing:
        packages.append("chromium")
    if facts.wrk_missing:
        packages.append("wrk")
    if packages:
        steps.append(Step("refresh the package lists", "apt-get update -q -o Dpkg::Use-Pty=0", installs=True))
        steps.append(Step(f"install {', '.join(packages)}", f"{APT_INSTALL} {' '.join(packages)}", installs=True))

    if pg and pg.local and pg.state in ("down", "login"):
        version = pg.newest or NEWEST_PG
        if pg.state == "down":
            # Debian's package creates the "main" cluster; one removed since is made again.
            if pg.versions and pg.newest not in pg.clusters:
                steps.append(Step(f"create PostgreSQL {version}'s cluster", f"pg_createcluster {version} main"))
            steps.append(
                Step(
                    "start PostgreSQL",
                    f"pg_ctlcluster --skip-systemctl-redirect {version} main start",
                )
            )
        if pg.state == "login" or manual:
            steps.extend(hba_steps(pg, version))

    for r in facts.redis:
        if r.error and r.local:
            log = REPO_ROOT / "var" / "log" / f"redis-{r.port}.log"
            steps.append(
                Step(
                    f"start Redis on {r.where} (nothing kept on disk)",
                    f"redis-server --daemonize yes --bind 127.0.0.1 -::1 --port {r.port} --save '' "
                    f"--appendonly no --dir {shlex.quote(tempfile.gettempdir())} --logfile {shlex.quote(str(log))}",
                    root=False,
                )
            )
    return steps


def unfixable(facts):
    """Problems no command here can solve: services on other hosts, or broken in other ways."""
    out = []
    pg = facts.postgres
    if pg and pg.state != "ok" and (not pg.local or pg.state == "error"):
        out.append(f"PostgreSQL at {pg.where} is not answering as the tests need ({pg.error}); fix it there.")
    elif pg and pg.state == "login" and not pg.versions:
        out.append(
            f"PostgreSQL at {pg.where} refuses user postgres without a password, and it is no Debian cluster of "
            "this machine that could be told otherwise: allow that login there, or put the password in DATABASE_URL."
        )
    elif pg and pg.state == "down" and pg.cluster_port not in (None, pg.port):
        out.append(
            f"PostgreSQL {pg.newest}'s cluster listens on port {pg.cluster_port}, not {pg.port} as DATABASE_URL says: "
            "change one of them."
        )
    for r in facts.redis:
        if r.error and not r.local:
            out.append(f"Redis at {r.where} is not answering ({r.error}); start it there.")
    return out


# --- Doing it --------------------------------------------------------------------------------------


def root_prefix(*, is_root=None, sudo=None, interactive=None):
    """The argv prefix that runs a command as root: [] as root, sudo otherwise; None when impossible.

    sudo is used without a password prompt when it allows that (`sudo -n true`), and with one when
    someone is at a terminal to answer it.
    """
    is_root = os.geteuid() == 0 if is_root is None else is_root
    if is_root:
        return []
    sudo = shutil.which("sudo") if sudo is None else sudo
    if not sudo:
        return None
    if subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:  # noqa: S603
        return [sudo, "-n"]
    interactive = sys.stdin.isatty() if interactive is None else interactive
    return [sudo] if interactive else None


def run_step(step, prefix, out):
    print(f"  {step.why}: {step.shell}", file=out, flush=True)
    argv = ["sh", "-c", step.shell]
    if step.root:
        argv = [*prefix, *argv]
    else:
        (REPO_ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    return subprocess.run(argv).returncode == 0  # noqa: S603


def manual_instructions(facts, prefix_missing_reason):
    steps = plan(facts, manual=True)
    lines = [
        "",
        f"bin/test cannot prepare this machine by itself: {prefix_missing_reason}.",
        "What is missing:",
        *[f"  - {p}" for p in facts.problems()],
    ]
    root_steps = [s for s in steps if s.root]
    if root_steps:
        lines += ["", "Run these commands as root (Debian or Ubuntu), then run bin/test again:", ""]
        lines += [f"  {s.shell}" for s in root_steps]
    user_steps = [s for s in steps if not s.root]
    if user_steps:
        lines += ["", "bin/test then starts the rest itself:", *[f"  {s.shell}" for s in user_steps]]
    if facts.chromium_missing:
        lines += ["", "Or leave the browser tests out: bin/test -m 'not browser'"]
    return "\n".join(lines)


def wait_until_healthy(env, need_browser, chromium, *, login_fixed=False, seconds=WAIT_SECONDS):
    """Look again until what was just started answers (PostgreSQL and Redis take a moment)."""
    deadline = time.monotonic() + seconds
    waiting_states = ("down", "login") if login_fixed else ("down",)
    while True:
        facts = look(env, chromium=chromium, need_browser=need_browser)
        pg_waiting = facts.postgres is not None and facts.postgres.state in waiting_states
        waiting = pg_waiting or any(r.error and r.local for r in facts.redis)
        if not waiting or time.monotonic() >= deadline:
            return facts
        time.sleep(1)


def ensure_database(url, out):
    """Create the database the URL names: `makemigrations --check` reads it before pytest runs."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    if not name:
        return
    with psycopg.connect(url, dbname="postgres", connect_timeout=3, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            print(f"Created database {name}", file=out)


def report_ok(facts, out):
    if facts.postgres:
        print(f"PostgreSQL answers at {facts.postgres.where}", file=out)
    for r in facts.redis:
        print(f"Redis answers at {r.where} ({', '.join(r.names)})", file=out)
    if facts.browser:
        print(f"Chromium: {facts.browser}", file=out)


def prepare(env, *, need_browser=True, chromium=None, out=sys.stdout, err=sys.stderr, prefix=...):
    """Make the services answer; 0 when they all do, 1 (with the reason on `err`) otherwise.

    `prefix` is how root commands are run (see `root_prefix`, which is asked when it is not given).
    """
    facts = look(env, chromium=chromium, need_browser=need_browser)
    if not facts.problems():
        report_ok(facts, out)
        if facts.postgres:
            ensure_database(facts.postgres.url, out)
        return 0

    hopeless = unfixable(facts)
    if hopeless:
        others = [f"  - {p}" for p in facts.problems()]
        print(
            "\n".join(["", *hopeless, "", "All that is missing:", *others, "", "FAILED: pytest was not started."]),
            file=err,
        )
        return 1

    if prefix is ...:
        prefix = root_prefix()
    if prefix is None and any(s.root for s in plan(facts)):
        reason = "it is not running as root, and sudo is missing or needs a password nobody is here to type"
        print(manual_instructions(facts, reason), file=err)
        print("\nFAILED: the test run needs the above first; pytest was not started.", file=err)
        return 1

    print("Setting up what the tests need:", file=out)
    for p in facts.problems():
        print(f"  - {p}", file=out)
    if facts.postgres and facts.postgres.state == "login":
        facts.postgres.hba_file = find_hba_file(facts.postgres, prefix or []) or facts.postgres.hba_file
    for _ in range(3):  # install, then start, then allow the login: each round looks again
        steps = plan(facts)
        if not steps:
            break
        installs = [s for s in steps if s.installs]
        for step in installs or steps:
            if not run_step(step, prefix or [], out):
                print(f"\nFAILED: could not {step.why}: {step.shell}", file=err)
                return 1
        login_fixed = not installs and facts.postgres is not None and facts.postgres.state == "login"
        facts = wait_until_healthy(env, need_browser, chromium, login_fixed=login_fixed)
        if facts.postgres and facts.postgres.state == "login":
            facts.postgres.hba_file = find_hba_file(facts.postgres, prefix or []) or facts.postgres.hba_file

    if facts.problems():
        print("\n".join(["", *facts.problems(), "", "FAILED: services the tests need are down."]), file=err)
        return 1
    report_ok(facts, out)
    if facts.postgres:
        ensure_database(facts.postgres.url, out)
    return 0


def find_hba_file(pg, prefix):
    """Ask the running server where its pg_hba.conf is (as user postgres, over the local socket)."""
    result = subprocess.run(  # noqa: S603
        [*prefix, "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-p", str(pg.port), "-c", "SHOW hba_file"],
        capture_output=True,
        text=True,
        cwd="/",
        stdin=subprocess.DEVNULL,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--without-browser",
        action="store_true",
        help="do not require Chromium (the browser tests are deselected)",
    )
    args = parser.parse_args(argv)
    return prepare(os.environ, need_browser=not args.without_browser)


if __name__ == "__main__":
    sys.exit(main())
