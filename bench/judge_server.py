"""Judges on a real OpenAI-compatible server: label yield, Gemma over HTTP against in process, saturation.

llama.cpp's own server, started in this process from the prebuilt ``xllamacpp`` wheel on 127.0.0.1 (2 threads):

1. **label yield** per judge kind (pointwise, G-Eval, pairwise) and server mode: the share of judgements that
   carry a label distribution. Modes: SmolLM2-135M-Instruct in chat mode (constrained label call, the default),
   the same server with the constraint withheld (today's parse-and-retry path, for comparison), and Gemma 3
   270M (a base model) in completions mode;
2. **Gemma over HTTP vs in process**: completions-mode label probabilities against the in-process exact path on
   the same prompts (``llama-cpp-python``; also the ``xllamacpp`` embedded provider when present): the largest
   difference per label;
3. **saturation**: a 2-slot SmolLM2 server, the same label calls (all submitted at once) at fixed client
   concurrency 2, 4 and 16 and with the adaptive client (ceiling 16): calls/s, p50/p95 latency of a call (from
   sending it to its reply: the server's queue shows here, the client's own wait for a slot does not), timeouts,
   retries, and the concurrency the adaptive client settled on. The cache is off: every call reaches the server.

    python bench/judge_server.py                 # all three parts
    python bench/judge_server.py --quick --json out.json
    python bench/judge_server.py --part saturation --calls 120
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judges import Case, GEval, ModelClient, PairwiseJudge, PointwiseJudge
from judges.providers import capabilities as caps_mod
from judges.providers.llama import default_gguf_path
from judges.providers.llama_server import LlamaServer, smollm2_gguf_path
from judges.providers.openai_compat import OpenAICompatibleProvider
from judges.results import Judgement
from judges.types import ModelRequest

STEPS = ("Check that the summary states the article's main facts.", "Check that it adds nothing the article lacks.")


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ROOT / "datasets" / name).read_text().splitlines() if line.strip()]


def pointwise_cases(n: int) -> list[Case]:
    return [Case(id=r["id"], input=f"Summarise: {r['article']}", output=r["summary"])
            for r in _rows("summarization.jsonl")[:n]]


def pairwise_cases(n: int) -> list[Case]:
    return [Case(id=r["id"], input=r["prompt"], output_a=r["response_a"], output_b=r["response_b"])
            for r in _rows("pairwise_prefs.jsonl")[:n]]


def client_for(server: LlamaServer, api: str, *, concurrency: int = 2, adaptive: bool | None = None,
               timeout_s: float = 120.0) -> ModelClient:
    provider = OpenAICompatibleProvider(server.model, base_url=server.base_url, api=api, timeout_s=timeout_s)
    return ModelClient(provider, max_concurrency=concurrency, adaptive=adaptive, trace=False, timeout_s=timeout_s)


async def _judge_all(judge: Any, client: ModelClient, cases: list[Case]) -> list[Any]:
    return list(await asyncio.gather(*(judge.judge(client, c) for c in cases)))


def label_yield(n: int) -> list[dict[str, Any]]:
    kinds = {
        "pointwise": (PointwiseJudge("faithfulness", "5: every fact is in the article ... 1: made up", explain=False),
                      pointwise_cases(n)),
        "geval": (GEval("faithfulness", "Does the summary keep to the article?", evaluation_steps=STEPS),
                  pointwise_cases(n)),
        "pairwise": (PairwiseJudge("helpfulness"), pairwise_cases(n)),
    }
    rows = []
    for model, path, modes in (("SmolLM2-135M-Instruct", smollm2_gguf_path(), ("chat", "chat-parse")),
                               ("Gemma 3 270M", default_gguf_path(), ("completions", "chat-parse"))):
        with LlamaServer(path, slots=2, threads=2, alias=model.split()[0].lower()) as server:
            for mode in modes:
                client = client_for(server, "chat" if mode == "chat-parse" else mode)
                if mode == "chat-parse":  # withhold the constraint: today's parse-and-retry path
                    caps_mod.remember(server.base_url, server.model, caps_mod.ServerCapabilities(chat_alternatives=20))
                asyncio.run(client.check())  # the model is served
                if isinstance(client.provider, OpenAICompatibleProvider):  # the label path settled before any case
                    asyncio.run(client.provider.capabilities())
                for kind, (judge, cases) in kinds.items():
                    t0 = time.perf_counter()
                    results = asyncio.run(_judge_all(judge, client, cases))
                    ok = [r for r in results if isinstance(r, Judgement) and r.label_probs]
                    sources = sorted({r.prob_source for r in ok})
                    rows.append({"model": model, "mode": mode, "kind": kind, "n": len(results), "with_labels": len(ok),
                                 "yield": len(ok) / len(results), "prob_source": ",".join(map(str, sources)),
                                 "calls": sum(r.calls.model_calls for r in results),
                                 "seconds": round(time.perf_counter() - t0, 1)})
                    print(_fmt_yield(rows[-1]), flush=True)
                caps_mod._KNOWN.pop((server.base_url, server.model), None)
    return rows


def _fmt_yield(r: dict[str, Any]) -> str:
    return (f"  {r['model']:<22} {r['mode']:<12} {r['kind']:<10} yield {r['with_labels']:>2}/{r['n']:<2} "
            f"({r['yield']:.0%})  calls {r['calls']:>3}  {r['seconds']:>6.1f}s  {r['prob_source']}")


def _all_probs(results: list[Any]) -> list[dict[str, float]]:
    """Every label distribution in the judgements (a pairwise verdict: each order's), in a fixed order."""
    out: list[dict[str, float]] = []
    for r in results:
        if not isinstance(r, Judgement) or not r.label_probs:
            out.append({})
        elif "order1_probs" in r.details:
            out += [r.details["order1_probs"], r.details["order2_probs"]]
        else:
            out.append(r.label_probs)
    return out


def http_vs_in_process(n: int) -> dict[str, Any]:
    """Gemma 3 270M: every judge kind's label probabilities, over HTTP in completions mode and in process."""
    from judges.providers.embedded import EmbeddedLlamaProvider

    kinds = {
        "pointwise": (PointwiseJudge("faithfulness", "5: every fact is in the article ... 1: made up", explain=False),
                      pointwise_cases(n)),
        "geval (1-10)": (GEval("faithfulness", "Does the summary keep to the article?", evaluation_steps=STEPS,
                               scale=(1, 10)), pointwise_cases(n)),
        "pairwise": (PairwiseJudge("helpfulness"), pairwise_cases(n)),
    }
    # the embedded judge as the suites run it (4 slots of 4,096 tokens); the HTTP server as a user might start it
    emb = ModelClient(EmbeddedLlamaProvider(n_threads=2), trace=False)
    local = {kind: _all_probs(asyncio.run(_judge_all(judge, emb, cases))) for kind, (judge, cases) in kinds.items()}
    emb.provider.close()  # type: ignore[attr-defined]
    out: dict[str, Any] = {"cases_per_kind": n, "in_process": "xllamacpp embedded, 4 slots x 4096",
                           "http": "llama.cpp server, 2 slots x 2048, completions mode"}
    with LlamaServer(default_gguf_path(), slots=2, threads=2, ctx_per_slot=2048, alias="gemma") as server:
        for conc in (1, 4):
            client = client_for(server, "completions", concurrency=conc, adaptive=False)
            for kind, (judge, cases) in kinds.items():
                http = _all_probs(asyncio.run(_judge_all(judge, client, cases)))
                diffs = [abs(a[k] - b.get(k, 1.0)) for a, b in zip(local[kind], http, strict=True) for k in a]
                missing = sum(1 for a, b in zip(local[kind], http, strict=True) if not a or not b)
                row = out[f"{kind}, concurrency {conc}"] = {
                    "distributions": len(http), "without_labels": missing,
                    "max_abs_diff": max(diffs, default=float("nan")),
                    "median_abs_diff": statistics.median(diffs) if diffs else float("nan")}
                print(f"  {kind:<13} concurrency {conc}: max |Δp| per label {row['max_abs_diff']:.2e}, "
                      f"median {row['median_abs_diff']:.2e} over {len(http)} distributions"
                      + (f", {missing} without labels" if missing else ""), flush=True)
    return out


def saturation(calls: int, timeout_s: float) -> list[dict[str, Any]]:
    """A 2-slot server, the same label calls at fixed concurrency 2, 4, 16 and adaptive (ceiling 16)."""
    judge = PointwiseJudge("faithfulness", "5: every fact is in the article ... 1: made up", explain=False)
    base = pointwise_cases(10)

    def cases_for(tag: str) -> list[Case]:
        # distinct prompts, also between clients (the server's prompt cache must not favour a later client)
        return [replace(base[i % len(base)], id=f"{tag}{i}", input=f"[{tag} {i}] " + base[i % len(base)].input)
                for i in range(calls)]

    rows = []
    with LlamaServer(smollm2_gguf_path(), slots=2, threads=2, alias="smollm2") as server:
        warm = client_for(server, "chat")
        asyncio.run(_judge_all(judge, warm, cases_for("warm-up")[:4]))  # the probe and a first load, not timed
        for label, conc, adaptive in (("fixed 2", 2, False), ("fixed 4", 4, False), ("fixed 16", 16, False),
                                      ("adaptive", 16, True)):
            client = client_for(server, "chat", concurrency=conc, adaptive=adaptive, timeout_s=timeout_s)
            lat: list[float] = []  # per call, from sending it to its reply: what the server makes a caller wait
            provider = client.provider
            send = provider.generate

            async def timed(request: ModelRequest, send: Any = send, lat: list[float] = lat) -> Any:
                t0 = time.perf_counter()
                out = await send(request)
                lat.append(time.perf_counter() - t0)
                return out

            provider.generate = timed  # type: ignore[method-assign]

            async def one(case: Case, client: ModelClient = client) -> Any:
                return await judge.judge(client, case)

            mine = cases_for(label.replace(" ", ""))

            async def run_all(client: ModelClient = client, cases: list[Case] = mine) -> list[Any]:
                # every case submitted at once: the client's limit decides how many reach the server
                return list(await asyncio.gather(*(one(c) for c in cases)))

            t0 = time.perf_counter()
            results = asyncio.run(run_all())
            wall = time.perf_counter() - t0
            st = client.concurrency()
            lat.sort()
            row = {"client": label, "calls": client.stats.calls, "calls_per_s": client.stats.calls / wall,
                   "p50_s": lat[len(lat) // 2], "p95_s": lat[min(len(lat) - 1, int(0.95 * len(lat)))],
                   "timeouts": client.stats.timeouts, "retries": client.stats.retries,
                   "failures": sum(not isinstance(r, Judgement) for r in results),
                   "settled": round(st.settled, 2) if st else conc, "range": f"{st.low}-{st.high}" if st else ""}
            rows.append(row)
            print(f"  {label:<9} {row['calls_per_s']:.2f} calls/s  p50 {row['p50_s']:.2f}s  p95 {row['p95_s']:.2f}s  "
                  f"timeouts {row['timeouts']}  retries {row['retries']}  failures {row['failures']}  "
                  f"concurrency {row['settled']} {row['range']}", flush=True)
    best = max(r["calls_per_s"] for r in rows if r["client"] != "adaptive")
    adaptive_row = next(r for r in rows if r["client"] == "adaptive")
    print(f"  adaptive / best fixed: {adaptive_row['calls_per_s'] / best:.2f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("all", "yield", "exact", "saturation"), default="all")
    ap.add_argument("--cases", type=int, default=10, help="cases per judge kind for the yield (at most 10)")
    ap.add_argument("--calls", type=int, default=80, help="label calls per client in the saturation run")
    ap.add_argument("--timeout", type=float, default=30.0, help="client timeout (s) in the saturation run")
    ap.add_argument("--quick", action="store_true", help="5 cases, 40 calls")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    if args.quick:
        args.cases, args.calls = 5, 40
    import os

    out: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
                           "load_avg_at_start": os.getloadavg()}
    print(f"machine: {out['machine']}; load average {out['load_avg_at_start'][0]:.1f}")
    if args.part in ("all", "yield"):
        print("label yield (share of judgements with a label distribution):")
        out["label_yield"] = label_yield(args.cases)
    if args.part in ("all", "exact"):
        print("Gemma 3 270M label probabilities, HTTP completions mode vs in process, same prompts:")
        out["http_vs_in_process"] = http_vs_in_process(args.cases)
    if args.part in ("all", "saturation"):
        print(f"saturation: 2-slot SmolLM2 server, {args.calls} label calls per client, timeout {args.timeout:g}s:")
        out["saturation"] = saturation(args.calls, args.timeout)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
