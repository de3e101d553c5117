"""A small local HTTP server that plays an OpenAI-compatible endpoint badly on
purpose: slow, failing, or answering garbage, as a test scripts it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.script: list[tuple[int, object]] = []  # queued (status, body) answers
        self.default: tuple[int, object] | None = None
        self.delay = 0.0
        self.models = ["tiny"]
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def completion(payload: dict) -> dict:
        """Echoes the last message, so a test can tell which prompt an answer is for."""
        n = payload.get("n", 1)
        text = (payload.get("messages") or [{"content": "hello"}])[-1]["content"]
        return {"object": "chat.completion", "choices": [
            {"index": i, "message": {"role": "assistant", "content": f"{text} {i}"},
             "finish_reason": "length", "token_ids": [1] * payload.get("max_tokens", 1)}
            for i in range(n)], "usage": {"prompt_tokens": 5, "completion_tokens": n}}

    def _answer(self, path: str, payload: dict) -> tuple[int, object]:
        if self.script:
            return self.script.pop(0)
        if self.default is not None:
            return self.default
        if path.endswith("/health"):
            return 200, ""
        if path.endswith("/models"):
            return 200, {"object": "list", "data": [{"id": m} for m in self.models]}
        return 200, self.completion(payload)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self, payload):
                with fake._lock:
                    fake.requests.append({"path": self.path, "json": payload})
                    fake.headers.append(dict(self.headers))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(fake.delay)
                    status, body = fake._answer(self.path, payload or {})
                    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def do_GET(self):
                self._serve(None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(json.loads(self.rfile.read(length) or b"{}"))

        return Handler
