"""Judge overhead: this harness vs deepeval's GEval vs a bare async HTTP client, on one instant fake server.

Every contender judges the same N cases at the same concurrency against the same local fake
OpenAI-compatible server (``bench/fake_openai_server.py``, a subprocess on 127.0.0.1), which answers
instantly with canned completions carrying logprobs. What is left is each client's own overhead:
building prompts and requests, HTTP, parsing, probability-weighted scoring, bookkeeping.

Contenders (one model call per case each; the harness's cache is off so every case is a real call):

- ``ours_pointwise``  judges.PointwiseJudge through ModelClient + OpenAICompatibleProvider
- ``ours_geval``      judges.GEval (evaluation steps pinned) through the same client
- ``deepeval_geval``  deepeval.metrics.GEval (steps pinned) with deepeval's OpenAIModel pointed at the
                      fake server, ``a_measure`` per case under a semaphore of the same size; as
                      configured out of the box, deepeval builds a new OpenAI client per call
- ``deepeval_geval_pooled``  the same, handed one shared HTTP client (``async_http_client=``): deepeval's
                      best case
- ``bare_pointwise`` / ``bare_geval``  httpx.AsyncClient + semaphore sending the harness's exact
                      request bodies and computing the same probability-weighted score by hand
- ``aiohttp_pointwise`` / ``aiohttp_geval``  the same by hand with one aiohttp.ClientSession: the
                      fastest plain Python client, the yardstick for the harness's OpenAI-compatible path
- ``ours_pointwise_httpx``  ours_pointwise with the provider forced onto httpx (``http="httpx"``)

    python bench/judge_overhead.py                       # 1,000 cases, concurrency 16, 3 repeats
    python bench/judge_overhead.py --quick --json out.json
    python bench/judge_overhead.py --profile ours_geval  # cProfile of one contender

Targets: ours_geval >= 10x deepeval_geval, ours >= 70% of bare httpx (issue 2, item 10); ours >= 50% of
bare aiohttp (issue 13, item 7).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import math
import os
import platform
import pstats
import re
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# deepeval reads these at import: no telemetry, no update check (judges.deepeval_metric does the same)
os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
os.environ.setdefault("DEEPEVAL_UPDATE_WARNING_OPT_IN", "0")
os.environ.setdefault("FAKE_JUDGE_KEY", "sk-fake")

from fake_openai_server import FakeServer

from judges import Case, GEval, ModelClient, PointwiseJudge
from judges.geval import EvaluationSteps
from judges.providers import OpenAICompatibleProvider

CRITERION = "The response is coherent: well structured and logically ordered."
STEPS = (
    "Read the input and identify its main points.",
    "Check that the response covers them in a logical order.",
    "Penalise contradictions and abrupt topic changes.",
)
RUBRIC = "5: fully coherent. 3: partly coherent. 1: incoherent."
CONTENDERS = (
    "ours_pointwise",
    "ours_geval",
    "deepeval_geval",
    "deepeval_geval_pooled",
    "bare_pointwise",
    "bare_geval",
    "aiohttp_pointwise",
    "aiohttp_geval",
    "ours_pointwise_httpx",
)
# the layers of ours_pointwise, each on the one below (--layers): the same label requests each time
LAYERS = (
    "layer_provider",  # OpenAICompatibleProvider.generate: request body, HTTP (aiohttp), response parsing
    "layer_client",  # + ModelClient: concurrency limit, retry loop, timeout, usage counting (no cache, untraced)
    "layer_client_rate",  # + the rate limiter (a limit never reached)
    "layer_client_cache",  # + the call cache (SQLite; every call a miss, then stored)
    "ours_pointwise",  # + the judge: prompt, label instruction, label distribution, the result record
)


def make_cases(n: int) -> list[Case]:
    """``n`` distinct synthetic cases of realistic length (an article of ~100 words, a summary)."""
    words = [
        "the",
        "council",
        "approved",
        "a",
        "budget",
        "for",
        "new",
        "bicycle",
        "lanes",
        "after",
        "a",
        "long",
        "debate",
        "about",
        "parking",
    ]
    cases = []
    for i in range(n):
        article = " ".join(words[(i + j) % len(words)] for j in range(100)) + f" (report {i})."
        summary = f"Case {i}: " + " ".join(words[(i * 3 + j) % len(words)] for j in range(25)) + "."
        cases.append(Case(f"c{i}", article, output=summary))
    return cases


# ---------------------------------------------------------------------------------------------- server


# ------------------------------------------------------------------------------------------ contenders


Timed = tuple[float, float, list[float]]  # (wall s, client CPU s, scores) of the judging; set-up is not timed


class Stopwatch:
    """Wall-clock and this process's CPU time (all threads; the server is another process) of one span."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


async def ours(judge: Any, cases: list[Case], url: str, concurrency: int, http: str = "auto") -> Timed:
    provider = OpenAICompatibleProvider("fake-judge", base_url=url, api_key_env="FAKE_JUDGE_KEY", http=http)
    # fixed at the given concurrency, as the bare clients are (against a server the default adapts)
    client = ModelClient(provider, cache=None, max_concurrency=concurrency, adaptive=False)
    try:
        await client.check()
        with Stopwatch() as sw:
            results = await asyncio.gather(*(judge.judge(client, c) for c in cases))
    finally:
        await provider.aclose()
    bad = [r for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} judge failures, first: {bad[0]}")
    return sw.wall, sw.cpu, [r.score for r in results]


# the harness's label instruction (judges/_labels.py), rebuilt here so the bare client sends identical bodies
def _instruction(prompt: str, marker: str, labels: tuple[str, ...]) -> str:
    return (
        f"{prompt}\n\nReply with '{marker} <answer>' on the first line, where <answer> is one of: "
        f"{', '.join(labels)}. Then give one sentence of reasoning."
    )


def _bare_score(data: dict[str, Any], marker: str, labels: tuple[str, ...]) -> float:
    """The probability-weighted score from a chat completion, the shortest honest way."""
    choice = data["choices"][0]
    text = choice["message"]["content"]
    m = re.search(re.escape(marker) + r"\s*(\d+)", text)
    if m is None:
        raise ValueError(f"no score in {text!r}")
    pos, offset = 0, m.start(1)
    for tok in choice["logprobs"]["content"]:
        if pos <= offset < pos + len(tok["token"]):
            probs = {a["token"]: math.exp(a["logprob"]) for a in tok["top_logprobs"] if a["token"] in labels}
            z = sum(probs.values())
            return sum(float(k) * p for k, p in probs.items()) / z
        pos += len(tok["token"])
    raise ValueError("score token not found in logprobs")


LABELS = tuple(str(i) for i in range(1, 6))


def bare_request(kind: str) -> tuple[Callable[[Case], dict[str, Any]], str]:
    """A function from a case to the harness's exact request body for ``kind``, and the label marker."""
    if kind == "pointwise":
        pointwise = PointwiseJudge("coherence", RUBRIC)
        marker = "Score:"

        def prompt(case: Case) -> str:
            return pointwise.prompt(case)
    else:
        geval = GEval("coherence", CRITERION, evaluation_steps=STEPS)
        marker = "- coherence:"
        steps = EvaluationSteps("coherence", "fake-judge", STEPS, "pinned")

        def prompt(case: Case) -> str:
            return geval.prompt(case, steps)

    def body(case: Case) -> dict[str, Any]:
        return {
            "model": "fake-judge",
            "messages": [{"role": "user", "content": _instruction(prompt(case), marker, LABELS)}],
            "max_tokens": 128,
            "temperature": 0.0,
            "top_p": 1.0,
            "n": 1,
            "seed": 0,
            "logprobs": True,
            "top_logprobs": 20,
        }

    return body, marker


async def bare(kind: str, cases: list[Case], url: str, concurrency: int) -> Timed:
    import httpx

    body, marker = bare_request(kind)
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"authorization": f"Bearer {os.environ['FAKE_JUDGE_KEY']}"}

    async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=60) as http:

        async def one(case: Case) -> float:
            async with sem:
                resp = await http.post("/chat/completions", json=body(case))
            resp.raise_for_status()
            return _bare_score(resp.json(), marker, LABELS)

        with Stopwatch() as sw:
            scores = list(await asyncio.gather(*(one(c) for c in cases)))
        return sw.wall, sw.cpu, scores


async def bare_aiohttp(kind: str, cases: list[Case], url: str, concurrency: int) -> Timed:
    """The same requests through one aiohttp session: the plainest fast Python client."""
    import aiohttp

    body, marker = bare_request(kind)
    sem = asyncio.Semaphore(concurrency)
    headers = {"authorization": f"Bearer {os.environ['FAKE_JUDGE_KEY']}", "content-type": "application/json"}
    chat = url + "/chat/completions"
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def one(case: Case) -> float:
            async with sem, http.post(chat, data=json.dumps(body(case)).encode()) as resp:
                resp.raise_for_status()
                data = json.loads(await resp.read())
            return _bare_score(data, marker, LABELS)

        with Stopwatch() as sw:
            scores = list(await asyncio.gather(*(one(c) for c in cases)))
        return sw.wall, sw.cpu, scores


async def deepeval_geval(cases: list[Case], url: str, concurrency: int, *, pooled: bool = False) -> Timed:
    import gc

    import openai
    from deepeval.metrics import GEval as DeepEvalGEval
    from deepeval.models import OpenAIModel
    from deepeval.test_case import LLMTestCase, SingleTurnParams

    # deepeval's own OpenAI model class pointed at the fake server; "gpt-4o" so it asks for logprobs.
    # By default deepeval builds a new AsyncOpenAI client (new connection pool, new TLS context) per call;
    # ``pooled`` hands it one shared HTTP client instead (its documented async_http_client option).
    http = openai.DefaultAsyncHttpxClient() if pooled else None
    extra: dict[str, Any] = {"async_http_client": http} if pooled else {}
    model = OpenAIModel(model="gpt-4o", base_url=url, api_key=os.environ["FAKE_JUDGE_KEY"], **extra)
    sem = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> float:
        metric = DeepEvalGEval(
            name="coherence",
            evaluation_params=[SingleTurnParams.INPUT, SingleTurnParams.ACTUAL_OUTPUT],
            evaluation_steps=list(STEPS),
            model=model,
            async_mode=True,
            verbose_mode=False,
        )
        async with sem:
            await metric.a_measure(
                LLMTestCase(input=case.input, actual_output=case.output), _show_indicator=False
            )
        if metric.score is None or metric.error:
            raise RuntimeError(f"deepeval GEval failed: {metric.error}")
        return float(metric.score)

    try:
        with Stopwatch() as sw:
            scores = list(await asyncio.gather(*(one(c) for c in cases)))
        return sw.wall, sw.cpu, scores
    finally:
        if http is not None:
            await http.aclose()
        gc.collect()  # deepeval's per-call clients close themselves on collection: let that run on this loop
        for _ in range(3):
            await asyncio.sleep(0)


async def _label_requests(cases: list[Case]) -> list[Any]:
    """The ModelRequests PointwiseJudge sends for ``cases`` (captured once with a fake provider, not timed)."""
    from judges.providers import FakeFunctionProvider

    seen: list[Any] = []

    def reply(request: Any) -> str:
        seen.append(request)
        return "Score: 3"

    # a provider that offers top logprobs, as the fake server does: the requests are the ones ours_pointwise sends
    # (the fake's replies carry no logprobs, so the judge then asks again by sampling: those are left out)
    client = ModelClient(FakeFunctionProvider(reply, top_logprobs=True), trace=False)
    judge = PointwiseJudge("coherence", RUBRIC)

    for c in cases:
        await judge.judge(client, c)
    wanted = [r for r in seen if r.top_logprobs]
    if len(wanted) != len(cases):
        raise RuntimeError(f"captured {len(wanted)} logprob requests for {len(cases)} cases")
    return wanted


async def layer(name: str, cases: list[Case], url: str, concurrency: int) -> Timed:
    """One layer of the harness's path on the same label requests (``LAYERS``)."""
    import tempfile

    from judges.cache import CallCache

    requests = await _label_requests(cases)
    provider = OpenAICompatibleProvider("fake-judge", base_url=url, api_key_env="FAKE_JUDGE_KEY")
    tmp = tempfile.TemporaryDirectory()
    try:
        if name == "layer_provider":
            await provider.check()
            sem = asyncio.Semaphore(concurrency)

            async def one(request: Any) -> Any:
                async with sem:
                    return await provider.generate(request)

            with Stopwatch() as sw:
                out = await asyncio.gather(*(one(r) for r in requests))
        else:
            cache = CallCache(Path(tmp.name) / "calls.sqlite") if name == "layer_client_cache" else None
            rpm = 1e9 if name == "layer_client_rate" else None
            client = ModelClient(provider, cache=cache, max_concurrency=concurrency, adaptive=False, trace=False,
                                 requests_per_minute=rpm)
            await client.check()
            with Stopwatch() as sw:
                out = await asyncio.gather(*(client.complete(r) for r in requests))
        return sw.wall, sw.cpu, [float(len(c.text)) for c in out]
    finally:
        await provider.aclose()
        tmp.cleanup()


def contender(name: str) -> Callable[[list[Case], str, int], Coroutine[Any, Any, Timed]]:
    if name.startswith("layer_"):
        return lambda cases, url, k: layer(name, cases, url, k)
    if name == "ours_pointwise":
        return lambda cases, url, k: ours(PointwiseJudge("coherence", RUBRIC), cases, url, k)
    if name == "ours_geval":
        return lambda cases, url, k: ours(
            GEval("coherence", CRITERION, evaluation_steps=STEPS), cases, url, k
        )
    if name == "deepeval_geval":
        return deepeval_geval
    if name == "deepeval_geval_pooled":
        return lambda cases, url, k: deepeval_geval(cases, url, k, pooled=True)
    if name == "bare_pointwise":
        return lambda cases, url, k: bare("pointwise", cases, url, k)
    if name == "bare_geval":
        return lambda cases, url, k: bare("geval", cases, url, k)
    if name == "aiohttp_pointwise":
        return lambda cases, url, k: bare_aiohttp("pointwise", cases, url, k)
    if name == "aiohttp_geval":
        return lambda cases, url, k: bare_aiohttp("geval", cases, url, k)
    if name == "ours_pointwise_httpx":
        return lambda cases, url, k: ours(PointwiseJudge("coherence", RUBRIC), cases, url, k, http="httpx")
    raise SystemExit(f"unknown contender {name!r}; choose from {', '.join(CONTENDERS + LAYERS)}")


def timed(name: str, cases: list[Case], server: FakeServer, concurrency: int) -> Timed:
    """Wall and client-CPU seconds for one contender to judge every case (on a fresh event loop), and its scores."""
    before = server.requests()
    wall, cpu, scores = asyncio.run(contender(name)(cases, server.base_url, concurrency))
    calls = server.requests() - before
    if calls < len(cases):  # every case must be a real HTTP call (the harness adds one GET /models check)
        raise RuntimeError(f"{name} made {calls} chat calls for {len(cases)} cases")
    return wall, cpu, scores


# ------------------------------------------------------------------------------------------------ main

RATIOS = (
    ("ours_geval", "deepeval_geval", 10.0),
    ("ours_geval", "deepeval_geval_pooled", None),
    ("ours_pointwise", "deepeval_geval", None),
    ("ours_pointwise", "bare_pointwise", 0.7),
    ("ours_geval", "bare_geval", 0.7),
    ("ours_pointwise", "aiohttp_pointwise", 0.8),  # issue 24
    ("ours_geval", "aiohttp_geval", 0.8),
    ("ours_pointwise_httpx", "bare_pointwise", None),
)


def machine() -> dict[str, Any]:
    """CPU count and model, Python version, and the 1-minute load average when the run started."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "load_avg_1m": load}


def ratios_of(med: dict[str, float]) -> dict[str, float]:
    return {f"{a}/{b}": med[a] / med[b] for a, b, _ in RATIOS if a in med and b in med}


def report(result: dict[str, Any], names: list[str]) -> None:
    m = result["machine"]
    print(
        f"judge overhead: {result['cases']} cases, concurrency {result['concurrency']}, median of "
        f"{result['repeats']} ({m['nproc']} CPUs, {m['cpu']}, Python {m['python']}, load {m['load_avg_1m']:.1f})"
    )
    print(f"  {'contender':<22} {'cases/s':>9} {'cases/CPU-s':>12}   runs (cases/s)")
    for n in names:
        runs = ", ".join(f"{v:.0f}" for v in result["cases_per_s_runs"][n])
        print(f"  {n:<22} {result['cases_per_s'][n]:>9.0f} {result['cases_per_cpu_s'][n]:>12.0f}   {runs}")
    targets = {f"{a}/{b}": t for a, b, t in RATIOS}
    print(f"  {'ratio':<40} {'wall':>6} {'CPU':>6} {'paired':>7}")
    for k, v in result["ratios_wall"].items():
        t = targets.get(k)
        c = result["ratios_cpu"][k]
        p = result["ratios_paired"][k]
        verdict = "" if t is None else f"   target >= {t:g}: {'met' if p >= t else 'MISSED'} (paired)"
        print(f"  {k:<40} {v:6.2f} {c:6.2f} {p:7.2f}{verdict}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print cases/s per contender and the ratios; optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", type=int, default=1000, help="cases per contender per repeat (default 1000)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions; medians are reported")
    parser.add_argument("--quick", action="store_true", help="smoke test: 50 cases, 1 repeat")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    parser.add_argument(
        "--profile", metavar="CONTENDER", help="print a cProfile of one run of CONTENDER and exit"
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--layers", action="store_true",
                        help="time each layer of the harness's path (and bare aiohttp): µs of CPU per call each adds")
    parser.add_argument("--pin", action="store_true",
                        help="the fake server on the last CPU, the clients on the others (less scheduler noise)")
    args = parser.parse_args(argv)
    if args.layers:
        args.contenders = ",".join(("aiohttp_pointwise", *LAYERS))
    if args.quick:
        args.cases, args.repeats = min(args.cases, 50), 1
    if args.cases < 1 or args.repeats < 1 or args.concurrency < 1:
        parser.error("--cases, --repeats and --concurrency must be >= 1")
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    for n in names:
        contender(n)

    started = machine()
    cases = make_cases(args.cases)
    server = FakeServer()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if args.pin and len(cpus) >= 2:
        os.sched_setaffinity(server.proc.pid, {cpus[-1]})
        os.sched_setaffinity(0, set(cpus[:-1]))
        started["pinned"] = {"server": [cpus[-1]], "client": cpus[:-1]}
    try:
        for n in [args.profile] if args.profile else names:  # warm-up: imports, first connections
            timed(n, cases[: min(20, len(cases))], server, args.concurrency)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            wall, _, _ = timed(args.profile, cases, server, args.concurrency)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(35)
            print(f"{args.profile}: {len(cases) / wall:.0f} cases/s under cProfile\n{out.getvalue()}")
            return {}
        walls: dict[str, list[float]] = {n: [] for n in names}
        cpus: dict[str, list[float]] = {n: [] for n in names}
        scores: dict[str, float] = {}
        for rep in range(args.repeats):
            order = (
                names[rep % len(names) :] + names[: rep % len(names)]
            )  # rotate so no one always goes first
            for n in order:
                wall, cpu, s = timed(n, cases, server, args.concurrency)
                walls[n].append(len(cases) / wall)
                cpus[n].append(len(cases) / max(cpu, 1e-9))
                scores[n] = statistics.fmean(s)
    finally:
        server.stop()

    med = {n: statistics.median(v) for n, v in walls.items()}
    med_cpu = {n: statistics.median(v) for n, v in cpus.items()}
    result: dict[str, Any] = {
        "benchmark": "judge_overhead",
        "cases": args.cases,
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "machine": started,
        "cases_per_s": med,
        "cases_per_cpu_s": med_cpu,
        "cases_per_s_runs": walls,
        "cases_per_cpu_s_runs": cpus,
        "mean_score": scores,
        "ratios_wall": ratios_of(med),
        "ratios_cpu": ratios_of(med_cpu),
        # each repeat's ratio (the two ran one after the other), then the median: steadier than the ratio of the
        # medians when the machine's speed drifts during the run (a shared VM's does, by 2x)
        "ratios_paired": {f"{a}/{b}": statistics.median(x / y for x, y in zip(walls[a], walls[b], strict=True))
                          for a, b, _ in RATIOS if a in walls and b in walls},
        "targets": {f"{a}/{b}": t for a, b, t in RATIOS if t is not None},
    }
    report(result, names)
    if args.layers:
        us = {n: 1e6 / med_cpu[n] for n in ("aiohttp_pointwise", *LAYERS)}
        result["layers_us_cpu_per_call"] = us
        below = {"layer_client": "layer_provider", "layer_client_rate": "layer_client",
                 "layer_client_cache": "layer_client", "ours_pointwise": "layer_client"}
        result["layers_added_us"] = {n: us[n] - us[b] for n, b in below.items()}
        print("  CPU per call (µs), and what each layer adds to the one it wraps:")
        for n in ("aiohttp_pointwise", *LAYERS):
            added = f"  (+{us[n] - us[below[n]]:.0f} on {below[n]})" if n in below else ""
            print(f"    {n:<22} {us[n]:>7.0f}{added}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
