"""A webhook receiver as a team would write one: a real HTTP server on
loopback that checks each delivery's HMAC-SHA256 signature with its own code
(hmac, not Palate's), and answers what the test planned."""

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str = ""
    # Planned status codes, answered in order; when used up, 200.
    plan: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def verify(self, headers: dict, body: bytes) -> bool:
        timestamp = headers.get("X-Palate-Timestamp", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        return bool(timestamp) and hmac.compare_digest(expected, headers.get("X-Palate-Signature", ""))

    def deliveries(self, path: str = "/hook") -> list[Received]:
        return [r for r in self.received if r.path == path]


def receiver_start() -> Receiver:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = dict(self.headers.items())
            with lock:
                receiver.received.append(Received(path=self.path, headers=headers, body=body,
                                                  signature_ok=receiver.verify(headers, body)))
                status = receiver.plan.pop(0) if receiver.plan else 200
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", f"{receiver.url}/landing")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = b'{"ok": true}' if status < 300 else b"planned failure"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver
