"""bin/test prepares the machine itself (stream_portal/devservices.py), bin/_lib.sh finds a Python,
bin/run serves on loopback only and makes its demo admin through `ensure_local_admin`.

Real PostgreSQL, Redis and processes throughout; where a test needs "not root and no sudo", the
environment is arranged so (PATH without sudo, fake sudo programs), nothing of ours is replaced.
"""

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from stream_portal import devservices
from stream_portal.devservices import Facts, Postgres, Redis

ROOT = Path(__file__).resolve().parent.parent
ENV_URLS = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    port = free_port()
    assert not devservices.port_open("127.0.0.1", port)
    return port


def postgres_url():
    url = os.environ.get("DATABASE_URL", "")
    assert url.startswith("postgres"), "these tests need DATABASE_URL to name the test PostgreSQL (bin/test sets it)"
    return url


def redis_url():
    url = os.environ.get("CACHE_URL", "")
    assert url.startswith("redis"), "these tests need CACHE_URL to name the test Redis (bin/test sets it)"
    return url


def prepare(env, **kw):
    out, err = io.StringIO(), io.StringIO()
    rc = devservices.prepare(env, out=out, err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


# --- devservices: what answers is used as it is ---------------------------------------------------


def test_services_that_answer_are_only_checked_and_the_database_is_created(tmp_path):
    name = f"sp_devservices_{uuid.uuid4().hex[:10]}"
    db_url = urlsplit(postgres_url())._replace(path="/" + name).geturl()
    env = {"DATABASE_URL": db_url, "CACHE_URL": redis_url(), "CELERY_BROKER_URL": redis_url()}
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    try:
        rc, out, err = prepare(env, chromium=str(chromium), prefix=None)
        assert (rc, err) == (0, "")
        r = urlsplit(redis_url())
        assert out.splitlines() == [
            f"PostgreSQL answers at {urlsplit(db_url).hostname}:{urlsplit(db_url).port or 5432}",
            f"Redis answers at {r.hostname}:{r.port or 6379} (CACHE_URL, CELERY_BROKER_URL)",
            f"Chromium: {chromium}",
            f"Created database {name}",
        ]
        # Run again: nothing left to do, nothing created twice.
        rc, out, err = prepare(env, chromium=str(chromium), prefix=None)
        assert (rc, err) == (0, "")
        assert "Created database" not in out
    finally:
        with psycopg.connect(postgres_url(), dbname="postgres", autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}"')


def test_a_stopped_local_redis_is_started_on_the_port_its_url_names(tmp_path):
    port = closed_port()
    env = {"DATABASE_URL": "sqlite:///" + str(tmp_path / "db.sqlite3"), "CACHE_URL": f"redis://127.0.0.1:{port}/3"}
    try:
        rc, out, err = prepare(env, need_browser=False, prefix=None)
        assert (rc, err) == (0, "")
        assert f"start Redis on 127.0.0.1:{port} (nothing kept on disk): redis-server --daemonize yes" in out
        assert out.splitlines()[-1] == f"Redis answers at 127.0.0.1:{port} (CACHE_URL)"
        started = redis.Redis(port=port)
        assert started.ping()
        assert started.config_get("save") == {"save": ""}
        assert started.config_get("appendonly") == {"appendonly": "no"}
    finally:
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(port=port).shutdown(nosave=True)


# --- devservices: no root and no sudo --------------------------------------------------------------


def test_without_root_or_sudo_it_stops_before_pytest_and_prints_the_commands(tmp_path, monkeypatch):
    # This machine as a developer's without sudo: nothing named sudo on PATH, and not root.
    monkeypatch.setenv("PATH", str(tmp_path))
    prefix = devservices.root_prefix(is_root=False)
    assert prefix is None

    env = {"DATABASE_URL": postgres_url(), "CACHE_URL": redis_url()}
    rc, out, err = prepare(env, chromium=str(tmp_path / "no-chromium"), prefix=prefix)

    assert rc == 1
    assert out == ""
    assert err.splitlines() == [
        "",
        "bin/test cannot prepare this machine by itself: it is not running as root, and sudo is missing or needs "
        "a password nobody is here to type.",
        "What is missing:",
        f"  - {devservices.CHROMIUM} is missing: the browser tests drive Debian's Chromium",
        "  - wrk is missing: the benchmark's smoke test loads the server with it",
        "",
        "Run these commands as root (Debian or Ubuntu), then run bin/test again:",
        "",
        "  apt-get update -q -o Dpkg::Use-Pty=0",
        "  env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "
        "chromium wrk",
        "",
        "Or leave the browser tests out: bin/test -m 'not browser'",
        "",
        "FAILED: the test run needs the above first; pytest was not started.",
    ]


def test_the_same_run_without_the_browser_tests_needs_nothing_from_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    env = {"DATABASE_URL": postgres_url(), "CACHE_URL": redis_url()}
    rc, out, err = prepare(env, need_browser=False, chromium=str(tmp_path / "no-chromium"), prefix=None)
    assert (rc, err) == (0, "")
    assert "Chromium" not in out


def test_main_exits_1_before_any_check_when_nothing_can_be_fixed_here(tmp_path):
    port = closed_port()
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"postgres://portal:hunter2@db.invalid:{port}/portal",
        "CACHE_URL": "locmem://",
        "CELERY_BROKER_URL": "filesystem://",
    }
    result = subprocess.run(
        [sys.executable, "-m", "stream_portal.devservices", "--without-browser"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "hunter2" not in result.stdout + result.stderr
    assert f"PostgreSQL at db.invalid:{port} is not answering as the tests need" in result.stderr
    assert f"  - PostgreSQL at db.invalid:{port} (postgres://portal:***@db.invalid:{port}/portal):" in result.stderr
    assert result.stderr.rstrip().endswith("FAILED: pytest was not started.")


def test_bin_test_stops_before_the_checks_and_pytest_when_a_service_cannot_be_had(tmp_path):
    port = closed_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ENV_URLS},
        "DATABASE_URL": f"postgres://portal:hunter2@db.invalid:{port}/portal",
        "CACHE_URL": "locmem://",
        "CELERY_BROKER_URL": "filesystem://",
    }
    result = subprocess.run(
        ["bash", "bin/test", "-m", "not browser", "tests/test_bin.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "==> services (PostgreSQL, Redis, Chromium)" in result.stdout
    assert "FAILED (exit 1): services (PostgreSQL, Redis, Chromium)" in result.stderr
    assert "==> ruff check" not in result.stdout
    assert "==> pytest" not in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def fake_program(path, exit_code):
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(0o755)
    return str(path)


def test_sudo_is_used_without_a_prompt_when_it_allows_that(tmp_path):
    sudo = fake_program(tmp_path / "sudo", 0)
    assert devservices.root_prefix(is_root=False, sudo=sudo, interactive=False) == [sudo, "-n"]


def test_sudo_that_wants_a_password_is_used_only_with_someone_at_the_terminal(tmp_path):
    sudo = fake_program(tmp_path / "sudo", 1)
    assert devservices.root_prefix(is_root=False, sudo=sudo, interactive=True) == [sudo]
    assert devservices.root_prefix(is_root=False, sudo=sudo, interactive=False) is None


def test_root_needs_no_prefix():
    assert devservices.root_prefix(is_root=True) == []


# --- devservices: the plan for a machine that lacks things ----------------------------------------


def stopped_postgres(**kw):
    pg = Postgres(url="postgres://postgres@127.0.0.1:5432/sp", host="127.0.0.1", port=5432, state="down")
    pg.hba_file = "/etc/postgresql/15/main/pg_hba.conf"
    for key, value in kw.items():
        setattr(pg, key, value)
    return pg


HBA_FIX = (
    "grep -q '# added by stream-portal bin/test' /etc/postgresql/15/main/pg_hba.conf || sed -i "
    "-e '1i # added by stream-portal bin/test' "
    "-e '1i host    all    postgres    127.0.0.1/32    trust' "
    "-e '1i host    all    postgres    ::1/128         trust' /etc/postgresql/15/main/pg_hba.conf"
)


def test_a_stopped_postgres_is_started_and_the_login_fixed_only_once_it_refuses():
    facts = Facts(
        postgres=stopped_postgres(versions=["13", "15"], clusters=["13", "15"]),
        redis=[],
        chromium_missing=False,
        redis_server=True,
    )
    assert [(s.shell, s.root) for s in devservices.plan(facts)] == [
        ("pg_ctlcluster --skip-systemctl-redirect 15 main start", True),
    ]
    assert [s.shell for s in devservices.plan(facts, manual=True)] == [
        "pg_ctlcluster --skip-systemctl-redirect 15 main start",
        HBA_FIX,
        "pg_ctlcluster --skip-systemctl-redirect 15 main reload",
    ]
    facts.postgres.state = "login"
    assert [s.shell for s in devservices.plan(facts)] == [
        HBA_FIX,
        "pg_ctlcluster --skip-systemctl-redirect 15 main reload",
    ]


def test_the_login_fix_puts_the_trust_lines_first_and_only_once(tmp_path):
    stock = "local   all   postgres   peer\nhost    all   all        127.0.0.1/32   scram-sha-256\n"
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(stock)
    fix = devservices.hba_steps(stopped_postgres(hba_file=str(hba)), "15")[0]
    for _ in range(2):  # a second run finds its marker and changes nothing
        subprocess.run(["sh", "-c", fix.shell], check=True)
    assert hba.read_text() == (
        "# added by stream-portal bin/test\n"
        "host    all    postgres    127.0.0.1/32    trust\n"
        "host    all    postgres    ::1/128         trust\n" + stock
    )


def test_a_bare_machine_gets_every_package_then_the_newest_cluster():
    facts = Facts(
        postgres=stopped_postgres(hba_file=""),
        redis=[
            Redis(
                url="redis://127.0.0.1:6379/0",
                names=["CELERY_BROKER_URL"],
                host="127.0.0.1",
                port=6379,
                error="Connection refused",
            )
        ],
        chromium_missing=True,
        redis_server=False,
    )
    steps = devservices.plan(facts, manual=True)
    newest = '"$(ls /usr/lib/postgresql | sort -V | tail -n 1)"'
    assert [(s.shell.split(" --dir ")[0], s.root) for s in steps] == [
        ("apt-get update -q -o Dpkg::Use-Pty=0", True),
        (f"{devservices.APT_INSTALL} postgresql redis-server chromium", True),
        (f"pg_ctlcluster --skip-systemctl-redirect {newest} main start", True),
        (
            f"grep -q '# added by stream-portal bin/test' /etc/postgresql/{newest}/main/pg_hba.conf || sed -i "
            "-e '1i # added by stream-portal bin/test' "
            "-e '1i host    all    postgres    127.0.0.1/32    trust' "
            f"-e '1i host    all    postgres    ::1/128         trust' /etc/postgresql/{newest}/main/pg_hba.conf",
            True,
        ),
        (f"pg_ctlcluster --skip-systemctl-redirect {newest} main reload", True),
        ("redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no", False),
    ]


def test_a_removed_cluster_is_created_again_before_it_starts():
    facts = Facts(
        postgres=stopped_postgres(versions=["15"], clusters=[]), redis=[], chromium_missing=False, redis_server=True
    )
    assert [s.shell for s in devservices.plan(facts)] == [
        "pg_createcluster 15 main",
        "pg_ctlcluster --skip-systemctl-redirect 15 main start",
    ]


def test_services_on_other_hosts_are_never_installed_or_started():
    facts = Facts(
        postgres=stopped_postgres(host="db.internal", versions=["15"], clusters=["15"]),
        redis=[
            Redis(
                url="redis://cache.internal:6379/1",
                names=["CACHE_URL"],
                host="cache.internal",
                port=6379,
                error="Timeout",
            )
        ],
        chromium_missing=False,
        redis_server=False,
    )
    assert devservices.plan(facts) == []
    assert devservices.unfixable(facts) == [
        "PostgreSQL at db.internal:5432 is not answering as the tests need (); fix it there.",
        "Redis at cache.internal:6379 is not answering (Timeout); start it there.",
    ]


def test_a_cluster_on_another_port_than_the_url_is_reported_not_started():
    facts = Facts(
        postgres=stopped_postgres(port=5499, versions=["15"], clusters=["15"], cluster_port=5432),
        redis=[],
        chromium_missing=False,
        redis_server=True,
    )
    assert devservices.unfixable(facts) == [
        "PostgreSQL 15's cluster listens on port 5432, not 5499 as DATABASE_URL says: change one of them."
    ]


def test_a_postgres_that_wants_a_password_and_is_not_a_local_cluster_is_reported_not_patched():
    facts = Facts(
        postgres=stopped_postgres(state="login", versions=[], clusters=[], hba_file=""),
        redis=[],
        chromium_missing=False,
        redis_server=True,
    )
    assert devservices.unfixable(facts) == [
        "PostgreSQL at 127.0.0.1:5432 refuses user postgres without a password, and it is no Debian cluster of "
        "this machine that could be told otherwise: allow that login there, or put the password in DATABASE_URL."
    ]


def test_passwords_never_show_in_printed_urls():
    assert devservices.shown("postgres://portal:s3cret@db:5432/portal") == "postgres://portal:***@db:5432/portal"
    assert devservices.shown("redis://:s3cret@cache:6379/1") == "redis://:***@cache:6379/1"
    assert devservices.shown("redis://cache:6379/1") == "redis://cache:6379/1"


# --- bin/_lib.sh: finding a Python ------------------------------------------------------------------


def tool_dir(tmp_path):
    """A PATH holding only the tools bin/_lib.sh uses, and no Python."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("dirname", "awk", "sort", "cut"):
        found = next(Path(d) / name for d in ("/usr/bin", "/bin") if (Path(d) / name).exists())
        (tools / name).symlink_to(found)
    return tools


def real_python():
    return os.path.realpath(sys.executable)


def find_python(tmp_path, path_dirs, home):
    env = {"PATH": ":".join(str(d) for d in path_dirs), "HOME": str(home)}
    return subprocess.run(
        ["/bin/bash", "-c", ". bin/_lib.sh && find_python"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_find_python_skips_shims_that_refuse_to_run_and_takes_the_next_on_path(tmp_path):
    tools = tool_dir(tmp_path)
    fake_program(tools / "python3.13", 1)  # a pyenv shim outside its PYENV_VERSION
    (tools / "python3").symlink_to(real_python())
    result = find_python(tmp_path, [tools], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    expected = subprocess.run(
        [tools / "python3", "-c", "import sys; print(sys.executable)"], capture_output=True, text=True
    ).stdout
    assert result.stdout == expected


def test_find_python_falls_back_to_pyenv_versions_newest_first(tmp_path):
    tools = tool_dir(tmp_path)
    fake_program(tools / "python3", 1)  # too old: answers the version test with "no"
    home = tmp_path / "home"
    for version in ("3.11.9", "3.12.4", "3.13.1", "3.14.0"):
        bin_dir = home / ".pyenv" / "versions" / version / "bin"
        bin_dir.mkdir(parents=True)
        if version == "3.14.0":
            fake_program(bin_dir / "python3", 127)  # half-installed: does not run
        else:
            (bin_dir / "python3").symlink_to(real_python())
    result = find_python(tmp_path, [tools], home)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{home}/.pyenv/versions/3.13.1/bin/python3\n"


def test_find_python_says_what_to_install_when_there_is_none(tmp_path):
    tools = tool_dir(tmp_path)
    result = find_python(tmp_path, [tools], tmp_path / "home")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Stream Portal needs Python 3.12 or newer. Install it (e.g. `apt-get install python3.12` or "
        "`pyenv install 3.13`) and run this again.\n"
    )


def test_prepare_python_without_root_or_sudo_prints_the_command_to_run_as_root(tmp_path):
    tools = tool_dir(tmp_path)
    (tools / "id").write_text("#!/bin/sh\necho 1000\n")  # not root
    (tools / "id").chmod(0o755)
    fake_program(tools / "apt-get", 0)  # a Debian machine, but nothing here may run it as root
    env = {"PATH": str(tools), "HOME": str(tmp_path / "home")}
    result = subprocess.run(
        ["/bin/bash", "-c", ". bin/_lib.sh && VENV_DIR=/nonexistent && prepare_python"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ">> No Python >= 3.12 found; looking at the distribution's python3\n"
    assert result.stderr == (
        "This step needs root, and this is not root and cannot use sudo. Run as root, then run this again:\n"
        "    env DEBIAN_FRONTEND=noninteractive apt-get update -q -o Dpkg::Use-Pty=0\n"
    )


# --- bin/run and ensure_local_admin ---------------------------------------------------------------


@pytest.mark.django_db
def test_ensure_local_admin_creates_admin_once_and_never_changes_it(settings, capsys):
    settings.DEBUG = True
    call_command("ensure_local_admin")
    assert capsys.readouterr().out == (
        'Created superuser "admin" with password "admin".\n'
        "These credentials are for a local demo only: never run bin/run against a shared or public database.\n"
    )
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin")

    admin.set_password("changed-by-its-owner")
    admin.save()
    call_command("ensure_local_admin")
    assert capsys.readouterr().out == 'User "admin" already exists; left unchanged.\n'
    admin.refresh_from_db()
    assert admin.check_password("changed-by-its-owner")


@pytest.mark.django_db
def test_ensure_local_admin_refuses_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs only with DEBUG=true"):
        call_command("ensure_local_admin")
    assert not get_user_model().objects.exists()


def non_loopback_address():
    """An address of this machine that is not loopback, if it has one (the route to the outside)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, the kernel just picks a source address
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_bin_run_serves_on_loopback_only_says_so_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in (*ENV_URLS, "DEBUG", "SECRET_KEY", "HOST")},
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
        "CACHE_URL": "locmem://",
    }
    proc = subprocess.Popen(
        ["bash", "bin/run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        assert f"Stream Portal is starting, listening on 127.0.0.1:{port} (this machine only).\n" in output, output
        assert f"  Health     http://127.0.0.1:{port}/healthz\n" in output
        assert "admin / admin is a local demo account" in output

        deadline = time.monotonic() + 60
        while not devservices.port_open("127.0.0.1", port, timeout=0.5):
            assert time.monotonic() < deadline, "runserver did not start listening"
            time.sleep(0.5)
        other = non_loopback_address()
        if other:
            assert not devservices.port_open(other, port, timeout=1), f"bin/run is reachable at {other}:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, rest
    assert not devservices.port_open("127.0.0.1", port, timeout=0.5)
    with pytest.raises(ProcessLookupError):  # the Celery worker went with it: nothing is left of the group
        os.killpg(proc.pid, 0)


def test_a_missing_wrk_is_installed_with_the_other_packages():
    facts = Facts(postgres=None, redis=[], chromium_missing=True, redis_server=True, wrk_missing=True)
    assert [s.shell for s in devservices.plan(facts)] == [
        "apt-get update -q -o Dpkg::Use-Pty=0",
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "
        "chromium wrk",
    ]
    assert facts.problems()[-1] == "wrk is missing: the benchmark's smoke test loads the server with it"
