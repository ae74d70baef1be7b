"""gunicorn's settings for the portal, behind nginx (or another TLS proxy) on one host:

    gunicorn -c deploy/gunicorn.conf.py 'portal:create_app()'

The app listens on loopback only. Behind a trusted proxy (PORTAL_TRUSTED_PROXIES=1) the
portal takes the client's address from the X-Forwarded-For header the proxy sets; were
the app's own port reachable from outside, anyone could send that header themselves, pick
any address, and so walk past every per-address limit (sign-in, recovery). Only the
proxy may reach the app: bind to 127.0.0.1 (below) or to a unix socket that only the
proxy's user can open, e.g. bind = "unix:/run/portal/gunicorn.sock" with systemd's
RuntimeDirectory=portal and the socket's group set to nginx's.
"""

import multiprocessing
import os

# Loopback or a unix socket, never 0.0.0.0 or a public address (see above).
bind = "127.0.0.1:8000"

# Processes: about two per core (the work is mostly waiting on the database), a few
# threads each for slow phones on slow networks; more workers need more database
# connections (each process keeps its own pool).
workers = min(2 * multiprocessing.cpu_count() + 1, 9)
worker_class = "gthread"
threads = 4

# A request that takes this long is stuck: the worker is restarted. The acquirer's API
# is called with its own shorter timeouts (PORTAL_YOOKASSA_*_TIMEOUT).
timeout = 30
graceful_timeout = 30
# nginx keeps connections to the app open between requests.
keepalive = 5

# Recycle workers now and then, at staggered times, so slow leaks never pile up.
max_requests = 2000
max_requests_jitter = 200

# Only the proxy on this host is believed about the scheme (X-Forwarded-Proto); the
# client's address is the app's business (PORTAL_TRUSTED_PROXIES, werkzeug's ProxyFix).
forwarded_allow_ips = "127.0.0.1"

# The portal writes its own line per request (portal.access: JSON with the request id,
# the endpoint and the time taken, no query string), so gunicorn's access log stays off;
# gunicorn's own messages go to stderr. journald keeps both.
accesslog = None
errorlog = "-"

# gunicorn (27 here) opens a control socket at $HOME/.gunicorn/gunicorn.ctl: every
# gunicorn of one user would share that path (the last one started takes it). systemd
# controls the portal with signals (reload: HUP), so the socket stays off.
control_socket_disable = True


# Metrics (portal.metrics): with PROMETHEUS_MULTIPROC_DIR set (deploy/systemd/portal.service)
# every worker writes its counts into files there, and /metrics adds them up. A worker
# that exits is told to prometheus_client, so its live gauges stop counting. The app is
# not preloaded: each worker imports it after the fork, with files of its own.
preload_app = False


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
