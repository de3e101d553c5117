"""Arena streaming benchmark: time to first token (TTFT) and tokens/s as a
streaming HTTP client sees them, for 1 and 8 concurrent battles, against the
backend's own rate measured in the same run.

* backend (the named baseline): ``transformers_stream`` called directly in
  this process — the same streaming generation the arena runs, with no HTTP,
  no Django, no database — with as many concurrent streams as the battles
  have answers (2 per battle);
* arena: the real endpoints (``POST /projects/<id>/arena/battles/`` then
  ``POST /arena/battles/<id>/turns/``) served by a threaded WSGI server in this
  process on a SQLite file, read by httpx clients as server-sent events.
  TTFT is from sending the turn request to the first text of each answer.

Both paths use SmolLM2-135M-Instruct (float32, materialized from the offline
wheel on first use; the pool holds it under two names), greedy decoding (the
same tokens on both paths) and the same prompts. Per answer: TTFT, and decode
tokens/s = (tokens − 1) / (last text − first text); per round: aggregate
tokens/s = all tokens / wall seconds. Rounds alternate backend, arena.

Run from the repository root:
    .venv/bin/python benchmarks/arena.py                      # 1 and 8 battles, 32 tokens
    .venv/bin/python benchmarks/arena.py --battles 1 8 --max-tokens 64 --rounds 2
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

PROMPTS = ["Explain to a child why the sky is blue.", "In three sentences, describe the water cycle.",
           "Give a short, friendly explanation of how vaccines work.", "What is a prime number?",
           "How does a bicycle stay upright?", "Why do leaves change colour in autumn?",
           "How do bees make honey?", "What causes the tides?"]


def environment(var_dir: Path, models_dir: Path, database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["PALATE_VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}"
    os.environ["PALATE_MODELS_DIR"] = str(models_dir)
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    os.environ.update(DEBUG="0", ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0",
                      SECURE_COOKIES="0", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Both pool entries are one checkpoint, so one "server": room for every stream
    # of the largest round (the default cap of 8 would refuse 8 battles' 16).
    os.environ.setdefault("PALATE_ARENA_MAX_STREAMS", "64")
    import django

    django.setup()


def serve() -> str:
    """The Django WSGI app on a threaded server (one thread per request, as
    the browser tests serve it), TCP_NODELAY so each event leaves at once."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    class NoDelay(ThreadedWSGIServer):
        def get_request(self):
            connection, address = super().get_request()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection, address

    server = NoDelay(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def setup(max_tokens: int, battles: int):
    """A labeler per concurrent battle, an arena project with SmolLM2 twice in its pool."""
    from django.core.management import call_command
    from django.test import Client

    from annotation.models import Role
    from annotation.services.projects import project_create
    from arena.services.config import arena_configure, pool_add
    from generation.bootstrap import DEFAULT_MODELS, materialize
    from generation.models import ModelRole
    from generation.services.registry import model_spec_register
    from tests.factories import member_add, user_make

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # the stop flag lives in the cache
    smol = next(m for m in DEFAULT_MODELS if m.role == "policy")
    folder, _, _ = materialize(smol, Path(os.environ["PALATE_MODELS_DIR"]), report=lambda m: None)
    admin = user_make("bench_admin")
    project = project_create(creator=admin, name="Arena bench", slug="arena-bench")
    arena = arena_configure(project=project, max_turns=1, max_output_tokens=max_tokens,
                            sampling={"temperature": 0.0}, battles_per_hour=10_000,
                            tokens_per_hour=10_000_000)
    specs = []
    for name in ("smollm2-left", "smollm2-right"):
        spec = model_spec_register(name=name, role=ModelRole.POLICY, path=str(folder))[0]
        pool_add(arena=arena, name=name)
        specs.append(spec)
    sessions = []
    for i in range(battles):
        labeler = user_make(f"bench_labeler_{i}")
        member_add(project, labeler, Role.LABELER)
        client = Client()
        client.force_login(labeler)
        sessions.append(client.cookies["sessionid"].value)
    return project, specs, sessions, folder


def decode_rate(tokens: int, first: float, last: float) -> float | None:
    return (tokens - 1) / (last - first) if tokens > 1 and last > first else None


def backend_round(specs, prompts, max_tokens: int) -> list[dict]:
    """2 × len(prompts) direct streams at once: the backend's own rate."""
    from generation.backends.base import SamplingParams
    from generation.backends.streaming import Delta, StreamEnd, transformers_stream
    from generation.services.runtime import backend_for

    sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    results: list[dict] = []
    lock = threading.Lock()

    def one(spec, prompt):
        started = time.perf_counter()
        first = last = None
        tokens = 0
        for event in transformers_stream(backend_for(spec), [{"role": "user", "content": prompt}],
                                         sampling=sampling, stop=threading.Event(), timeout=600):
            now = time.perf_counter()
            if isinstance(event, Delta):
                first = first or now
                last = now
            elif isinstance(event, StreamEnd):
                tokens = event.completion_tokens
        with lock:
            results.append({"ttft": first - started, "tokens": tokens,
                            "rate": decode_rate(tokens, first, last)})

    threads = [threading.Thread(target=one, args=(spec, prompt)) for prompt in prompts for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def arena_round(base: str, project_id: int, sessions: list[str], prompts) -> list[dict]:
    """One battle per labeler at once, each one turn, read as the browser reads it."""
    import httpx

    results: list[dict] = []
    lock = threading.Lock()
    csrf = secrets.token_hex(16)  # Django accepts an unmasked 32-character secret

    def one(session: str, prompt: str):
        headers = {"X-CSRFToken": csrf, "Content-Type": "application/json"}
        cookies = {"sessionid": session, "csrftoken": csrf}
        with httpx.Client(base_url=base, cookies=cookies, headers=headers, timeout=600) as client:
            response = client.post(f"/projects/{project_id}/arena/battles/", content="{}")
            response.raise_for_status()
            turn_url = response.json()["urls"]["turn"]
            started = time.perf_counter()
            first, last, tokens = {}, {}, {}
            with client.stream("POST", turn_url, content=json.dumps({"prompt": prompt})) as stream:
                stream.raise_for_status()
                for line in stream.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    now = time.perf_counter()
                    if event["type"] == "delta":
                        first.setdefault(event["side"], now)
                        last[event["side"]] = now
                    elif event["type"] == "end":
                        tokens[event["side"]] = event["tokens"]
                    elif event["type"] == "failed":
                        raise RuntimeError(event["error"])
        with lock:
            for side in ("a", "b"):
                results.append({"ttft": first[side] - started, "tokens": tokens[side],
                                "rate": decode_rate(tokens[side], first[side], last[side])})

    threads = [threading.Thread(target=one, args=(s, p)) for s, p in zip(sessions, prompts, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def summary(results: list[dict], wall: float) -> dict:
    rates = [r["rate"] for r in results if r["rate"]]
    ttfts = [r["ttft"] * 1000 for r in results]
    tokens = sum(r["tokens"] for r in results)
    return {"answers": len(results), "tokens": tokens,
            "ttft_ms_median": round(statistics.median(ttfts), 1), "ttft_ms_max": round(max(ttfts), 1),
            "decode_tokens_per_s_median": round(statistics.median(rates), 1) if rates else None,
            "aggregate_tokens_per_s": round(tokens / wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds per path and size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--models-dir", default=os.environ.get("PALATE_MODELS_DIR",
                                                               str(ROOT / "var" / "models")))
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temp folder")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="palate-arena-bench-"))
    environment(var_dir, Path(args.models_dir), args.database_url)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    project, specs, sessions, folder = setup(args.max_tokens, max(args.battles))
    base = serve()
    print(f"SmolLM2-135M-Instruct ({folder}), greedy, max_tokens={args.max_tokens}; "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    backend_round(specs, PROMPTS[:1], 4)  # load both models and warm up
    arena_round(base, project.pk, sessions[:1], PROMPTS[:1])
    rows = []
    for battles in args.battles:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(battles)]
        for _ in range(args.rounds):
            for path in ("backend", "arena"):
                started = time.perf_counter()
                if path == "backend":
                    results = backend_round(specs, prompts, args.max_tokens)
                else:
                    results = arena_round(base, project.pk, sessions[:battles], prompts)
                row = {"path": path, "battles": battles, "streams": 2 * battles,
                       **summary(results, time.perf_counter() - started)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{'battles':>7} {'path':8} {'TTFT ms (median/max)':>21} {'decode tok/s':>12} "
          f"{'aggregate tok/s':>15} {'tokens':>6}")
    for row in rows:
        print(f"{row['battles']:>7} {row['path']:8} "
              f"{row['ttft_ms_median']:>10} / {row['ttft_ms_max']:<8} "
              f"{row['decode_tokens_per_s_median']!s:>12} {row['aggregate_tokens_per_s']:>15} "
              f"{row['tokens']:>6}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
