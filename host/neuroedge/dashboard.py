"""`neuroedge dashboard`: a local web page that shows a running board live.

The page (dashboard.html, no external files) asks this server for the state five times a
second: the current gesture, its confidence and every gesture's score, windows/s, latency,
drops and losses, the amplifier's buffer level, velocity, and a heatmap per electrode grid of
the latest activity map with the bad electrodes crossed out. The server reads the board's
events (neuroedge.live) in a thread of its own: the board only sends what it sends anyway
plus an activity map every ``activity_ms``, so the page never slows the classifier.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .live import LiveState

PAGE = Path(__file__).with_name("dashboard.html")


class Dashboard:
    """Serves the page and the state on http://HOST:PORT/ while `events` feed it."""

    def __init__(self, state: LiveState, source: str, host: str = "127.0.0.1", port: int = 8000):
        self.state, self.source = state, source
        page = PAGE.read_bytes()
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server name
                path = self.path.split("?")[0]
                if path in ("/", "/index.html"):
                    body, kind = page, "text/html; charset=utf-8"
                elif path == "/state":
                    body, kind = json.dumps(dashboard.state.snapshot()).encode(), "application/json"
                elif path == "/about":
                    body, kind = json.dumps({"source": dashboard.source}).encode(), "application/json"
                else:
                    self.send_error(404, "the dashboard serves /, /state and /about")
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass  # a request every 200 ms would flood the terminal

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            from .errors import InputError

            raise InputError(f"cannot serve the dashboard on {host}:{port} ({exc}); choose another --http port") from None
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/"

    def feed(self, events, stop: threading.Event) -> threading.Thread:
        """Reads events into the state in a thread; the thread ends with the events or `stop`.
        What stopped the events, if anything did, is kept in self.error for the caller."""
        self.error = None

        def run():
            try:
                for event in events(stop):
                    self.state.update(event)
                    if stop.is_set():
                        break
            except Exception as exc:  # noqa: BLE001 - handed to the main thread, which reports it
                self.error = exc
            finally:
                stop.set()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def serve(self) -> threading.Thread:
        """Answers requests in a thread of its own until close()."""
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stops serving and frees the port."""
        self.server.shutdown()
        self.server.server_close()
