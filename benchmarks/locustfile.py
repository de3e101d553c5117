"""Simulated labelers for benchmarks/load.py (locust, FastHttpUser on gevent).

load.py starts `locust --headless` with this file and passes, in the environment:

    PALATE_LOAD_TOKENS   a JSON file: [[user id, raw API token], ...], one per labeler
    PALATE_LOAD_PROJECT  the project id
    PALATE_LOAD_MODE     "queue": POST next, then POST submit (one label per iteration);
                         "floor": two authenticated GET /api/me/ (the named baseline)
    PALATE_LOAD_THINK_MS mean think time between iterations, exponential (0: none, stress)
    PALATE_LOAD_ACKS     a file to append every acknowledged submit to, one JSON line:
                         [labeler id, idempotency key, annotation id, assignment id, item id]

Each locust user is one labeler with its own token (users take tokens in spawn order;
one locust process, so a plain counter hands them out). A request that fails with a
5xx or a broken connection is retried — the same method, path and body, so a submit
keeps its idempotency key — until RETRY_FOR_S have passed; every attempt, failed or
not, is a sample in locust's statistics (named "next", "submit" or "me").
"""

import itertools
import json
import os
import random
import secrets
import time
from collections import Counter

from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

RETRY_FOR_S = 60.0
BACKOFF_S = (0.05, 0.5)

TOKENS = json.loads(open(os.environ["PALATE_LOAD_TOKENS"]).read())  # noqa: SIM115 - read once at import
PROJECT = int(os.environ["PALATE_LOAD_PROJECT"])
MODE = os.environ.get("PALATE_LOAD_MODE", "queue")
THINK_S = float(os.environ.get("PALATE_LOAD_THINK_MS", "0")) / 1000
ACKS = open(os.environ["PALATE_LOAD_ACKS"], "a", buffering=1)  # noqa: SIM115 - one line per ack, flushed
_next_token = itertools.count()
STATUSES: Counter = Counter()  # "next 200", "submit 409", "me 503", "submit 0" (connection error) ...
# Submits sent but never answered when the run stopped (a user stopped mid-retry): the
# server may have stored them, but no client was told, so they are not acknowledged.
ABANDONED: set[tuple[int, str]] = set()


@events.quitting.add_listener
def _write_statuses(environment, **kwargs) -> None:
    with open(os.environ["PALATE_LOAD_ACKS"] + ".statuses.json", "w") as out:
        json.dump({"statuses": dict(STATUSES), "abandoned": sorted(ABANDONED)}, out)


def think(user) -> float:
    return random.expovariate(1 / THINK_S) if THINK_S > 0 else 0.0


class Labeler(FastHttpUser):
    wait_time = think if THINK_S > 0 else constant(0)
    # Keep-alive connection per labeler, as a browser tab would hold.
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        index = next(_next_token)
        if index >= len(TOKENS):
            raise StopUser  # more users than labelers: never share a token
        self.user_id, token = TOKENS[index]
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        if THINK_S > 0:
            # Start mid-think, as in a steady state, rather than 200 clicks at one instant.
            time.sleep(random.uniform(0, THINK_S))

    def call(self, method: str, path: str, name: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body) if body is not None else None
        give_up = time.monotonic() + RETRY_FOR_S
        while True:
            with self.client.request(method, path, name=name, data=data, headers=self.headers,
                                     catch_response=True) as response:
                status = response.status_code or 0
                STATUSES[f"{name} {status}"] += 1
                if 0 < status < 500:
                    response.success()  # 204 and 409 are answers, not errors
                    return status, response.content or b""
                response.failure(f"{status or 'connection error'}: {response.error or ''}"[:200])
            if time.monotonic() > give_up:
                raise RuntimeError(f"{name} kept failing for {RETRY_FOR_S:.0f}s")
            time.sleep(random.uniform(*BACKOFF_S))

    @task
    def iteration(self) -> None:
        if MODE == "floor":
            self.call("GET", "/api/me/", "me")
            self.call("GET", "/api/me/", "me")
            return
        status, body = self.call("POST", f"/api/projects/{PROJECT}/next/", "next")
        if status == 204:
            raise StopUser  # the queue is empty for this labeler
        if status != 200:
            return
        lease = json.loads(body)
        key = secrets.token_hex(16)
        ABANDONED.add((self.user_id, key))  # until it is answered
        status, body = self.call("POST", f"/api/assignments/{lease['assignment']}/submit/", "submit",
                                 {"idempotency_key": key, "strength": random.choice((-2, -1, 1, 2))})
        ABANDONED.discard((self.user_id, key))
        if status in (200, 201):
            annotation = json.loads(body)
            ACKS.write(json.dumps([self.user_id, key, annotation["id"], lease["assignment"],
                                   lease["item"]]) + "\n")
