"""A real HTTP server on loopback that records JSON POSTs, standing in for a Slack-compatible webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import SecretStr


class Webhook:
    """Collects every JSON body POSTed to it; `url` is a secret, as real webhook URLs are."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.refused: set[str] = set()
        """Bodies holding any of these values are answered 422 (and not recorded): a receiver refusing them."""
        self.unavailable: set[str] = set()
        """Bodies holding any of these values are answered 503 (and not recorded): a receiver that is down."""
        posts, refused, unavailable = self.posts, self.refused, self.unavailable

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                values = {str(v) for v in body.values()}
                if refused & values:
                    self.send_response(422)
                elif unavailable & values:
                    self.send_response(503)
                else:
                    posts.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = SecretStr(f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/XXXX")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
