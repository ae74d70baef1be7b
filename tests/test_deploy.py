"""The sample deployment: the app listens only where the proxy can reach it (finding 11:
no one sends X-Forwarded-For past the proxy to choose their own address); the systemd
units and timers run commands the CLI has; the nginx site keeps /metrics private,
caches what is fingerprinted and never sw.js; backups restore whole (checked end to end
against PostgreSQL); gunicorn's workers add up their metrics."""

import ipaddress
import json
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

import pytest

from tools.demo_server import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
README = ROOT / "README.md"


def is_private_bind(address: str) -> bool:
    """A gunicorn bind address that only this host can connect to."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or fd:// may resolve to anything


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("localhost:8000", True),
        ("unix:/run/portal/gunicorn.sock", True),
        ("0.0.0.0:8000", False),
        ("[::]:8000", False),
        ("192.0.2.10:8000", False),
        ("portal.example:8000", False),
        (":8000", False),
    ],
)
def test_what_counts_as_private(address, private):
    assert is_private_bind(address) is private


def test_the_sample_gunicorn_config_binds_to_loopback_or_a_socket():
    settings = runpy.run_path(str(GUNICORN_CONF))
    binds = settings["bind"]
    binds = [binds] if isinstance(binds, str) else list(binds)
    assert binds and all(is_private_bind(address) for address in binds), binds


def test_the_sample_gunicorn_config_sets_workers_threads_and_timeouts():
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["workers"] >= 2 and settings["threads"] >= 1
    assert 0 < settings["timeout"] <= 120 and settings["graceful_timeout"] > 0
    # One control socket per user would be shared by every gunicorn of that user.
    assert settings["control_socket_disable"] is True


def test_the_readme_deploys_with_the_sample_config_and_says_why():
    text = README.read_text()
    deployment = text.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    assert "deploy/gunicorn.conf.py" in deployment
    assert "X-Forwarded-For" in deployment
    for address in re.findall(r"--bind[ =](\S+)", deployment):
        assert is_private_bind(address), address


# --- systemd: the units and timers ----------------------------------------------------

SYSTEMD = ROOT / "deploy" / "systemd"
NGINX = ROOT / "deploy" / "nginx"
SITES = ("portal.conf", "portal-app-host.conf", "balancer.conf")
BACKUP = ROOT / "deploy" / "backup"
INSTALL = "/opt/portal"  # where the units expect the install (README)
PORTAL_BIN = f"{INSTALL}/venv/bin/portal"

# The periodic commands issue 14 asks for.
PERIODIC = {
    ("billing", "run"),
    ("payments", "reconcile"),
    ("visits", "remind"),
    ("sms", "deliver"),
    ("push", "deliver"),
}


def unit(path: Path) -> dict[str, list[str]]:
    """A unit file's settings: key -> every value given (sections merged)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def environment(settings: dict[str, list[str]]) -> dict[str, str]:
    pairs = (value.partition("=") for value in settings.get("Environment", []))
    return {key: value for key, _, value in pairs}


def timers() -> list[Path]:
    return sorted(SYSTEMD.glob("*.timer"))


def cli_commands() -> set[tuple[str, str]]:
    from tests.conftest import make_test_app

    app = make_test_app("sqlite://", ROOT)
    return {
        (name, sub)
        for name, group in app.cli.commands.items()
        for sub in getattr(group, "commands", {})
    }


def test_every_timer_starts_a_service_that_runs_a_real_command():
    commands = cli_commands()
    assert timers()
    for timer in timers():
        service = timer.with_suffix(".service")
        assert service.exists(), f"{timer.name} has no {service.name}"
        settings = unit(service)
        assert settings["Type"] == ["oneshot"]
        (command,) = settings["ExecStart"]
        if command.startswith(f"{INSTALL}/deploy/"):
            script = ROOT / command.removeprefix(f"{INSTALL}/").split()[0]
            assert script.exists() and os.access(script, os.X_OK), command
            continue
        program, *words = command.split()
        assert program == PORTAL_BIN, command
        assert tuple(words) in commands, f"{service.name}: no `portal {' '.join(words)}`"


def test_the_timers_run_every_periodic_command():
    run = set()
    for timer in timers():
        command = unit(timer.with_suffix(".service"))["ExecStart"][0]
        if command.startswith(PORTAL_BIN):
            run.add(tuple(command.split()[1:]))
    assert run >= PERIODIC, PERIODIC - run
    assert cli_commands() >= PERIODIC  # and the CLI still has each


def test_the_timers_have_valid_schedules_made_up_after_downtime():
    checker = shutil.which("systemd-analyze")
    for timer in timers():
        settings = unit(timer)
        assert settings["Persistent"] == ["true"], timer.name
        (calendar,) = settings["OnCalendar"]
        assert settings["WantedBy"] == ["timers.target"]
        if checker:  # systemd's own parser, where systemd-analyze is installed
            result = subprocess.run(
                [checker, "calendar", calendar], capture_output=True, text=True, timeout=30
            )
            assert result.returncode == 0, (timer.name, result.stderr)


def test_every_service_runs_as_the_portal_user_with_the_settings_file():
    services = sorted(SYSTEMD.glob("*.service"))
    assert {s.name for s in services} >= {"portal.service", "portal-worker.service"}
    for service in services:
        settings = unit(service)
        assert settings["User"] == ["portal"], service.name
        assert settings["EnvironmentFile"] == ["/etc/portal/portal.env"], service.name
        assert settings["NoNewPrivileges"] == ["yes"], service.name
        assert settings["ProtectSystem"] == ["strict"], service.name


def test_the_app_service_runs_the_sample_gunicorn_config():
    settings = unit(SYSTEMD / "portal.service")
    (command,) = settings["ExecStart"]
    program, flag, conf, app = command.split()
    assert program == f"{INSTALL}/venv/bin/gunicorn" and flag == "-c"
    assert ROOT / conf.removeprefix(f"{INSTALL}/") == GUNICORN_CONF
    assert app == "portal:create_app()"
    assert settings["Type"] == ["notify"]  # gunicorn tells systemd when it is ready


def test_the_worker_service_runs_the_rq_worker():
    settings = unit(SYSTEMD / "portal-worker.service")
    assert settings["ExecStart"] == [f"{PORTAL_BIN} worker"]
    assert ("worker",) in {(name,) for name in cli_commands_top()}
    assert settings["Restart"] == ["always"]


def cli_commands_top() -> set[str]:
    from tests.conftest import make_test_app

    return set(make_test_app("sqlite://", ROOT).cli.commands)


def test_metrics_directories_are_emptied_at_start_and_read_together():
    """Each service writes its metrics into a directory systemd makes anew at its start
    (RuntimeDirectory), and the web service's /metrics reads both."""
    web, worker = unit(SYSTEMD / "portal.service"), unit(SYSTEMD / "portal-worker.service")
    written = {}
    for name, settings in (("web", web), ("worker", worker)):
        directory = environment(settings)["PROMETHEUS_MULTIPROC_DIR"]
        assert directory == "/run/" + settings["RuntimeDirectory"][0], name
        written[name] = directory
    read = environment(web)["PORTAL_METRICS_DIRS"].split(":")
    assert sorted(read) == sorted(written.values())


def test_gunicorn_tells_prometheus_client_when_a_worker_exits(tmp_path, monkeypatch):
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["preload_app"] is False  # each worker imports the app after the fork
    assert settings["accesslog"] is None  # the app writes the JSON access line itself
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings["child_exit"](None, types.SimpleNamespace(pid=4242))
    assert not live.exists()


def test_the_settings_file_names_only_real_settings():
    known = (ROOT / "portal" / "config.py").read_text()
    backup_script = (BACKUP / "portal-backup").read_text()
    outside = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PGCONNECT_TIMEOUT"}
    names = re.findall(
        r"^#?([A-Z][A-Z0-9_]+)=", (ROOT / "deploy" / "portal.env.example").read_text(), re.M
    )
    assert "PORTAL_TRUSTED_PROXIES" in names and "DATABASE_URL" in names
    for name in names:
        if name.startswith("PROMETHEUS_"):
            continue  # prometheus_client's own
        assert name in outside or f'"{name}"' in known or f"${{{name}:-" in backup_script, name


def test_the_settings_file_trusts_one_proxy_on_one_host_and_behind_a_balancer():
    """Behind the balancer each app host's nginx sets X-Forwarded-For to the one client
    address (realip), as on one host: with 2 ProxyFix finds no second entry, and every
    subscriber would be 127.0.0.1 to the per-address limits and the audit log."""
    lines = (ROOT / "deploy" / "portal.env.example").read_text().splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.startswith("PORTAL_TRUSTED_PROXIES=")]
    assert lines[at] == "PORTAL_TRUSTED_PROXIES=1"
    comment = []
    while lines[at - 1 - len(comment)].startswith("#"):
        comment.append(lines[at - 1 - len(comment)])
    assert set(re.findall(r"\b\d+\b", " ".join(comment))) <= {"1"}, comment
    headers = proxy_headers(nginx_text("portal-app-host.conf"))
    assert headers["X-Forwarded-For"] == "$remote_addr"  # one address, as on one host


# --- nginx ----------------------------------------------------------------------------


def nginx_blocks(text: str) -> dict[str, str]:
    """The text of each `location ... {}` block, by its match."""
    blocks = {}
    for match in re.finditer(r"location\s+([^{]+?)\s*\{", text):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        blocks[match.group(1)] = text[match.end() : end - 1]
    return blocks


def nginx_site(name: str) -> str:
    """A site's text with its snippets in place of their include lines."""
    return re.sub(
        r"^\s*include snippets/(\S+);",
        lambda match: (NGINX / match.group(1)).read_text(),
        (NGINX / name).read_text(),
        flags=re.M,
    )


def nginx_text(name: str = "portal.conf") -> str:
    return "\n".join(line.split("#", 1)[0] for line in nginx_site(name).splitlines())


def proxy_headers(text: str) -> dict[str, str]:
    return dict(re.findall(r"proxy_set_header\s+(\S+)\s+(\S+);", text))


def upstream_servers(text: str) -> list[str]:
    return re.findall(r"^\s*server\s+([^\s{;]+)", text, re.M)


def on_private_network(address: str) -> bool:
    """An address:port on a private network (never a public one, never every address)."""
    return ipaddress.ip_address(address.rsplit(":", 1)[0]).is_private


def test_nginx_proxies_to_the_loopback_app_with_the_headers_it_trusts():
    text = nginx_text()
    upstreams = upstream_servers(text)
    assert upstreams and all(is_private_bind(address) for address in upstreams)
    headers = proxy_headers(text)
    # Set, never appended to ($proxy_add_x_forwarded_for would pass the client's own).
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Request-ID"] == "$request_id"
    assert "ssl_certificate" in text and "listen 443 ssl" in text
    assert re.search(r"return 301 https://", text)


def test_nginx_lets_an_idle_connection_to_the_app_go_before_gunicorn_does():
    gunicorn = runpy.run_path(str(GUNICORN_CONF))
    (idle,) = re.findall(r"keepalive_timeout\s+(\d+)s;", nginx_text())
    assert 0 < int(idle) < gunicorn["keepalive"]


def test_an_app_host_believes_only_the_balancer_and_passes_the_same_headers():
    text = nginx_text("portal-app-host.conf")
    (listen,) = re.findall(r"^\s*listen\s+(\S+?);", text, re.M)
    assert on_private_network(listen)
    (balancer,) = re.findall(r"^\s*allow\s+(\S+?);", text, re.M)
    assert re.search(r"^\s*deny all;", text, re.M)
    assert re.findall(r"set_real_ip_from\s+(\S+?);", text) == [balancer]
    assert "real_ip_header X-Forwarded-For;" in text
    headers = proxy_headers(text)
    assert headers["X-Forwarded-For"] == "$remote_addr"  # the client's, after realip
    assert headers["X-Forwarded-Proto"] == "https"  # the balancer took it over TLS
    assert headers["X-Request-ID"] == "$portal_request_id"
    request_id = re.search(r"map \$http_x_request_id \$portal_request_id \{(.*?)\}", text, re.S)
    assert request_id.group(1).split() == ['""', "$request_id;", "default", "$http_x_request_id;"]
    assert all(is_private_bind(address) for address in upstream_servers(text))


def test_the_balancer_spreads_over_the_app_hosts_and_never_repeats_a_post():
    text = nginx_text("balancer.conf")
    hosts = upstream_servers(text)
    app_host = nginx_text("portal-app-host.conf")
    (listen,) = re.findall(r"^\s*listen\s+(\S+?);", app_host, re.M)
    assert len(hosts) >= 2 and listen in hosts
    assert all(on_private_network(host) for host in hosts)
    next_upstream = re.search(r"proxy_next_upstream\s+([^;]+);", text).group(1).split()
    assert "error" in next_upstream and "non_idempotent" not in next_upstream
    headers = proxy_headers(text)
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Request-ID"] == "$request_id"
    assert "listen 443 ssl" in text and re.search(r"return 301 https://", text)
    # The app hosts take only the balancer's address.
    (balancer,) = re.findall(r"^\s*allow\s+(\S+?);", app_host, re.M)
    assert ipaddress.ip_address(balancer).is_private


@pytest.mark.parametrize("name", SITES)
def test_nginx_never_serves_metrics(name):
    blocks = nginx_blocks(nginx_text(name))
    assert blocks["= /metrics"].split() == ["return", "404;"]


@pytest.mark.parametrize("name", ["portal.conf", "portal-app-host.conf"])
def test_nginx_caches_static_files_by_fingerprint_and_never_the_service_worker(name):
    text = nginx_text(name)
    blocks = nginx_blocks(text)
    static = blocks["/static/"]
    assert "gzip on;" in static and "brotli on;" in static
    assert "$portal_static_cache" in static
    cache_map = re.search(r"map \$arg_v \$portal_static_cache \{(.*?)\}", text, re.S).group(1)
    assert '""      "no-cache"' in cache_map
    assert "max-age=31536000, immutable" in cache_map
    service_worker = blocks["= /sw.js"]
    assert 'add_header Cache-Control "no-cache"' in service_worker
    assert "proxy_hide_header Cache-Control" in service_worker


@pytest.mark.parametrize("name", SITES)
def test_nginx_sends_hsts_on_every_answer(name):
    """add_header in a location drops the server's: each such location repeats HSTS."""
    text = nginx_text(name)
    hsts = 'add_header Strict-Transport-Security "max-age=31536000" always;'
    assert hsts in text
    for match, block in nginx_blocks(text).items():
        if "add_header" in block:
            assert hsts in block, match


@pytest.mark.parametrize("name", SITES)
def test_nginx_accepts_the_site(tmp_path, name):
    """`nginx -t` on each site with its snippets (Debian's nginx, and its brotli modules
    where installed); CI installs nginx, so there it always runs."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        assert not os.environ.get("CI"), "CI installs nginx (.ci/run)"
        pytest.skip("no nginx on this machine (apt-get install nginx-light)")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=my.example-isp.ru",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    modules = sorted(Path("/usr/lib/nginx/modules").glob("ngx_http_brotli_*_module.so"))
    (tmp_path / "snippets").mkdir()
    for path in NGINX.glob("*.conf"):
        text = path.read_text()
        text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {tmp_path}/cert.pem;", text)
        text = re.sub(
            r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {tmp_path}/key.pem;", text
        )
        # nginx -t binds the listen addresses: the app host's private one is not here.
        text = re.sub(r"listen 10\.0\.0\.\d+:", "listen 127.0.0.1:", text)
        if not modules:  # as the site's header says: without the modules, no brotli lines
            text = "\n".join(
                line for line in text.splitlines() if not line.strip().startswith("brotli")
            )
        (tmp_path / "snippets" / path.name).write_text(text)
    (tmp_path / "nginx.conf").write_text(
        "".join(f"load_module {module};\n" for module in modules)
        + f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        + "events {}\nhttp {\n  include /etc/nginx/mime.types;\n"
        + f"  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        + f"  proxy_temp_path {tmp_path}/proxy;\n  include snippets/{name};\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- backups: dump, restore, compare --------------------------------------------------


@pytest.fixture
def postgres_server() -> str:
    """TEST_DATABASE_URL as libpq takes it; the test skips without it (fails on CI)."""
    from tests.conftest import required_server

    return required_server("TEST_DATABASE_URL").replace("postgresql+psycopg:", "postgresql:", 1)


def postgresql_settings() -> dict[str, str]:
    """deploy/postgresql.conf's settings, by name."""
    text = (ROOT / "deploy" / "postgresql.conf").read_text()
    found = re.findall(r"^([a-z_]+)\s*=\s*'?([^'#\n]*?)'?\s*(?:#.*)?$", text, re.M)
    return dict(found)


def test_the_postgresql_settings_are_ones_the_server_has(postgres_server):
    """Every setting of the sample drop-in names a real setting with a value it takes
    (an enum's value among its choices: `wal_compression = lz4` needs a server built with
    lz4), so the file cannot stop PostgreSQL from starting."""
    import sqlalchemy as sa

    settings = postgresql_settings()
    assert settings["wal_compression"] == "lz4" and settings["shared_buffers"] == "1GB"
    engine = sa.create_engine(postgres_server.replace("postgresql:", "postgresql+psycopg:", 1))
    with engine.connect() as conn:
        known = {
            name: (kind, choices)
            for name, kind, choices in conn.exec_driver_sql(
                "SELECT name, vartype, enumvals FROM pg_settings"
            )
        }
    engine.dispose()
    for name, value in settings.items():
        assert name in known, name
        kind, choices = known[name]
        if kind == "enum":
            assert value in choices, (name, value, choices)
        elif kind == "bool":
            assert value in ("on", "off"), (name, value)
        elif kind in ("integer", "real"):
            assert re.fullmatch(r"\d+(\.\d+)?(kB|MB|GB|ms|s|min)?", value), (name, value)


def backup_env() -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    return {
        **os.environ,
        "PORTAL": str(bin_dir / "portal"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }


def admin_sql(server: str, statement: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(
        server.replace("postgresql:", "postgresql+psycopg:", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(statement)
    admin.dispose()


def scratch_database(server: str, name: str) -> str:
    import sqlalchemy as sa

    admin_sql(server, f'CREATE DATABASE "{name}"')
    return str(sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False))


def drop_database(server: str, name: str) -> None:
    admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def leftover_check_databases(server: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(server.replace("postgresql:", "postgresql+psycopg:", 1))
    query = sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'portal_check_%'")
    with engine.connect() as conn:
        names = list(conn.execute(query).scalars())
    engine.dispose()
    return names


@pytest.mark.postgres
@pytest.mark.slow
def test_a_backup_restores_whole_and_the_check_says_so(postgres_server):
    """check-restore: demo data in a scratch database, portal-backup, portal-restore into
    another, every table's rows, every balance and the ledger compared."""
    before = set(leftover_check_databases(postgres_server))
    result = subprocess.run(
        [str(BACKUP / "check-restore"), postgres_server],
        capture_output=True,
        text=True,
        timeout=300,
        env=backup_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check-restore: OK:" in result.stdout
    accounts = re.search(r"^accounts (\d+) total balance (-?\d+)$", result.stdout, re.M)
    assert accounts and int(accounts.group(1)) > 0  # there was real data to compare
    assert re.search(r"^ledger (\d+) entries", result.stdout, re.M).group(1) != "0"
    assert set(leftover_check_databases(postgres_server)) == before  # scratch dropped


@pytest.mark.postgres
@pytest.mark.slow
def test_the_check_fails_a_dump_whose_balances_are_wrong(postgres_server, tmp_path):
    """The check can fail: a dump of a database where one balance was changed behind the
    ledger's back is restored, and the check says which."""
    import sqlalchemy as sa

    name = f"portal_tamper_{uuid.uuid4().hex[:8]}"
    url = scratch_database(postgres_server, name)
    try:
        env = backup_env() | {
            "DATABASE_URL": url.replace("postgresql:", "postgresql+psycopg:", 1),
            "PORTAL_MODE": "demo",
            "SECRET_KEY": "tamper-test-" + uuid.uuid4().hex,
            "REDIS_URL": "",
        }
        subprocess.run(
            [env["PORTAL"], "demo", "--no-serve"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        engine = sa.create_engine(env["DATABASE_URL"])
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE accounts SET balance = balance + 1"
                " WHERE id = (SELECT min(id) FROM accounts)"
            )
        engine.dispose()
        dump = subprocess.run(
            [str(BACKUP / "portal-backup")],
            env=backup_env() | {"DATABASE_URL": url, "PORTAL_BACKUP_DIR": str(tmp_path)},
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.strip()
        assert Path(dump).parent == tmp_path and Path(dump).name.startswith("portal-")
        checked = subprocess.run(
            [str(BACKUP / "check-restore"), postgres_server, dump],
            capture_output=True,
            text=True,
            timeout=300,
            env=backup_env(),
        )
        assert checked.returncode == 1
        assert "1 accounts whose balance is not the sum of their entries" in checked.stderr
        # portal-restore never writes into a database that has tables.
        refused = subprocess.run(
            [str(BACKUP / "portal-restore"), dump, url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 2 and "restore into a new, empty one" in refused.stderr
    finally:
        drop_database(postgres_server, name)


def test_the_backup_refuses_sqlite(tmp_path):
    result = subprocess.run(
        [str(BACKUP / "portal-backup")],
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path}/portal.db",
            "PORTAL_BACKUP_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "not PostgreSQL" in result.stderr
    assert not list(tmp_path.glob("*.dump"))


# --- gunicorn with several workers, for real -----------------------------------------------


def healthz_count(exposition: str) -> float:
    """How many /healthz answers the exposition counts (none yet: 0)."""
    found = re.search(
        r"^portal_http_request_duration_seconds_count"
        r'\{endpoint="health.healthz",method="GET"\} (\S+)$',
        exposition,
        re.M,
    )
    assert "portal_http_request_duration_seconds" in exposition, exposition
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_gunicorn_workers_add_up_their_metrics_and_log_json_with_the_request_id(tmp_path):
    """The sample config under gunicorn, 2 workers in multiprocess mode, reloaded half
    way (new workers): /metrics counts every request whichever worker, old or new,
    answered it; every access line is JSON and carries the id the answer returned."""
    import urllib.request

    from flask_migrate import upgrade

    from tests.conftest import make_test_app

    database = f"sqlite:///{tmp_path / 'portal.db'}"
    migrated = make_test_app(database, tmp_path)
    with migrated.app_context():
        upgrade(directory=migrated.extensions["migrate"].directory)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "PORTAL_MODE": "development",
        "SECRET_KEY": "gunicorn-test-" + uuid.uuid4().hex,
        "PORTAL_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PORTAL_JOBS_BACKGROUND": "0",
    }
    env.pop("REDIS_URL", None)
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            str(GUNICORN_CONF),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--threads",
            "2",
            "portal:create_app()",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # On /ping, not /healthz, which is counted below: a probe the client gave up on
        # under load may still be answered (and counted) after `before`.
        wait_until_serving(base, server, tmp_path / "gunicorn.log", seconds=60)
        before = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        ids = []

        def ask(times: int) -> None:
            for _ in range(times):
                with urllib.request.urlopen(f"{base}/healthz", timeout=30) as answer:
                    ids.append(answer.headers["X-Request-ID"])

        ask(15)
        # New workers (a reload): the ones that answered so far exit, their counts stay.
        old = {int(f.stem.rsplit("_", 1)[1]) for f in metrics_dir.glob("histogram_*.db")}
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while any(Path(f"/proc/{pid}").exists() for pid in old):
            assert time.monotonic() < deadline, "the old workers did not exit"
            time.sleep(0.2)
        # The new workers may still be starting (seconds on a loaded machine).
        wait_until_serving(base, server, tmp_path / "gunicorn.log", seconds=60)
        ask(15)
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as answer:
            assert answer.status == 200
        text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # Every request counted, whichever of the four processes answered it.
    assert healthz_count(text) - healthz_count(before) == 30
    assert len(list(metrics_dir.glob("histogram_*.db"))) > len(old)  # a file per process
    lines = [
        json.loads(line)
        for line in (tmp_path / "gunicorn.log").read_text().splitlines()
        if line.startswith("{")
    ]
    logged = {line["request_id"] for line in lines if line.get("event") == "http.request"}
    assert set(ids) <= logged and len(set(ids)) == 30
