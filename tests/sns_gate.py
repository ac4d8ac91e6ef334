"""An SMS provider that refuses until it is fixed: a real HTTP server in front of moto's SNS that answers every
request with SNS's own `AuthorizationError` (403: the account may not send SMS, a permanent refusal) while
`refusing`, and passes requests through to moto once it is not."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

REFUSAL = (
    b'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    b"<Code>AuthorizationError</Code><Message>SMS is not enabled for this account</Message></Error>"
    b"<RequestId>gate</RequestId></ErrorResponse>"
)


class SnsGate:
    """`url` is an SNS endpoint for `CONVEYOR_SNS_ENDPOINT_URL`; set `refusing` to False to fix the provider."""

    def __init__(self, moto: str) -> None:
        self.refusing = True
        upstream = urlsplit(moto).netloc
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if gate.refusing:
                    self._answer(403, {"Content-Type": "text/xml"}, REFUSAL)
                    return
                connection = http.client.HTTPConnection(upstream, timeout=30)
                connection.request("POST", self.path, body, dict(self.headers))
                reply = connection.getresponse()
                self._answer(reply.status, dict(reply.getheaders()), reply.read())
                connection.close()

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SnsGate:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
