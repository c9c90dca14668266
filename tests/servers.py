"""Throwaway servers that fault and scale tests may stop and restart: redis-server processes and app servers.

Each runs on a free local port chosen once, so a restarted server comes back
where its clients expect it.
"""

import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import redis
import requests
from werkzeug.serving import make_server
from werkzeug.wsgi import ClosingIterator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLUSTER_BUS_OFFSET = 10000  # a cluster node also listens on its port + 10000


def free_port(with_bus=False):
    """A free local port; `with_bus` also needs port + 10000 free, for a cluster node's bus."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not with_bus:
            return port
        if port + CLUSTER_BUS_OFFSET <= 65535 and _bindable(port + CLUSTER_BUS_OFFSET):
            return port


def _bindable(port):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(condition, timeout=10.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout} s")
        time.sleep(interval)


class RedisServer:
    """One redis-server process; `persistent` keeps data across stop/start like a production server."""

    def __init__(self, directory, *options, persistent=False):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port(with_bus="--cluster-enabled" in options)
        self.options = list(options)
        if persistent:
            self.options += ["--appendonly", "yes"]  # a clean stop (SIGTERM) writes everything out
        else:
            self.options += ["--appendonly", "no"]
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.directory),
            *self.options,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            wait_until(lambda: self._answers(client), message=f"redis-server on port {self.port}")
        finally:
            client.close()
        return self

    def stop(self):
        """SIGTERM: the server finishes what it is doing, flushes its log and exits, like a clean shutdown."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def _answers(self, client):
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            return client.ping()
        except redis.ConnectionError:
            return False


class RedisClusterServers:
    """A Redis Cluster of `size` masters, no replicas; `url` is what REDIS_URL takes."""

    def __init__(self, directory, size=3):
        self.nodes = [
            RedisServer(
                Path(directory) / f"node{i}",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            )
            for i in range(size)
        ]

    @property
    def url(self):
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self):
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            try:
                wait_until(
                    lambda: client.cluster("info")["cluster_state"] == "ok",
                    message=f"cluster_state:ok on port {node.port}",
                )
            finally:
                client.close()
        return self

    def stop(self):
        for node in self.nodes:
            node.stop()


class AppServer:
    """A WSGI app served over real HTTP on a fixed local port, in a thread; can be stopped and started again.

    `stop` also waits for the requests still being answered (a browser's poll, say): their request threads
    outlive the server, and would otherwise write to Redis after the test has removed its keys.
    """

    def __init__(self, app, port=None):
        self.app = app
        self.port = port or free_port()
        self.server = self.thread = None
        self._answering = 0
        self._answered = threading.Condition()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.server = make_server("127.0.0.1", self.port, self._counted, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout=10.0):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            with self._answered:
                self._answered.wait_for(lambda: self._answering == 0, timeout)
        self.server = self.thread = None

    def _counted(self, environ, start_response):
        with self._answered:
            self._answering += 1
        try:
            return ClosingIterator(self.app(environ, start_response), self._done)
        except BaseException:
            self._done()
            raise

    def _done(self):
        with self._answered:
            self._answering -= 1
            self._answered.notify_all()


@contextmanager
def serving(wsgi_app):
    """Serve over real HTTP on a free local port for the block; yields the werkzeug server."""
    server = AppServer(wsgi_app).start()
    try:
        yield server.server
    finally:
        server.stop()


def seed_demo(env, cwd=PROJECT_ROOT):
    """The demo's users, groups and projects in the database `env` names (`flask seed-demo` of the tree at `cwd`)."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", "seed-demo"],
        cwd=cwd,
        check=True,
        env={**env, "WEBAPP_ENV": "test"},
        stdout=subprocess.DEVNULL,
    )


def gunicorn(env, workers, preexec_fn=None):
    """The app under gunicorn on a free port, configured by `env`: (process, base URL) once every worker answers."""
    server = Gunicorn(env, workers, preexec_fn=preexec_fn).start()
    return server.process, server.url


def workers_of(master):
    """Pids of a process's live children (a gunicorn master's workers), read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            children.append(int(entry.name))
    return sorted(children)


class Gunicorn:
    """`webapp:create_app()` under gunicorn, as `make serve` runs it, configured by environment variables.

    The benchmarks serve other apps (`app`, from the folder `cwd`) and wait for another page (`ready`:
    a path and the status it answers once the app is up).
    """

    def __init__(
        self,
        env,
        workers=1,
        *options,
        preexec_fn=None,
        app="webapp:create_app()",
        cwd=PROJECT_ROOT,
        ready=("/users/sign_in", 200),
    ):
        self.env, self.workers, self.options, self.preexec_fn = env, workers, list(options), preexec_fn
        self.app, self.cwd, self.ready = app, cwd, ready
        self.port = free_port()
        self.process = None
        self.log = tempfile.TemporaryFile("w+")  # gunicorn's and the app's log: a pipe nobody reads would fill up

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def logged(self):
        self.log.seek(0)
        return self.log.read()

    def start(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                *self.options,
                self.app,
            ],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            preexec_fn=self.preexec_fn,
        )
        try:
            wait_until(self._ready, timeout=60, interval=0.2, message="gunicorn")
        except TimeoutError:
            self.process.kill()
            raise
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def _ready(self):
        """Every worker is up (requests then reach any of them) and the app answers."""
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.logged()[-2000:]}")
        if len(workers_of(self.process.pid)) != self.workers:
            return False
        path, status = self.ready
        try:
            return requests.get(f"{self.url}{path}", timeout=2).status_code == status
        except requests.RequestException:
            return False
