"""`openai` judge backend: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, Gemini's
OpenAI-compatible endpoint, OpenAI), over httpx: one pooled client per backend (connections are kept
alive across requests and threads), proxies read from the environment (HTTPS_PROXY, NO_PROXY, ...).

One query = one POST {base_url}/chat/completions with one user message holding the text and the
image(s) as data URLs, in the query's order unless `image_order` says otherwise. The API key is
read from the environment variable named by `api_key_env` at request time and sent only in the
Authorization header: it is never part of the identity, the cache, a record or an error message.

Retries (tenacity): a request that times out, fails to connect, returns 408/409/425/429/5xx, or returns a
body that is not complete JSON (truncated) is retried up to `retries` times with exponential
backoff and jitter (`backoff` x 2^n seconds, capped at `max_backoff`, half of it random). A
Retry-After header (seconds or an HTTP date) is honoured: the wait is at least that long (capped
at `max_retry_after`). Other statuses (400, 401, 404, ...) fail at once. At most `concurrency`
requests are in flight at any time, whatever the number of threads asking.

First-token probabilities (Soft-TIFA): queries with candidates ask for `logprobs` with
`top_logprobs` alternatives for the first token. A candidate's probability is that of the top-k
entry whose token text equals the candidate's first token: with `tokenizer=ID_OR_PATH` (the served
model's tokenizer, loaded locally with transformers) the first token is computed exactly, as the
official scorer does; without it the whole candidate string is matched (fine for one-token words,
recorded in the identity as variant_matching=text). A candidate outside the top k gets 0.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from uno_bench.errors import UnoError
from uno_bench.judges.vlm import Answer, JudgeUnavailableError, Query, check_role, parse_options

RETRY_STATUSES = {408, 409, 425, 429}
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai"
OPTIONS: dict[str, tuple[type, Any]] = {
    "base_url": (str, None),
    "model": (str, None),  # the judge's model id, as recorded (and sent unless served_model is set)
    "served_model": (str, None),  # the name the server knows it by (vLLM --served-model-name)
    "revision": (str, None),  # dated version / weights revision, recorded in the identity
    "api_key_env": (str, "OPENAI_API_KEY"),
    "max_tokens": (int, None),  # overrides the protocol's max_tokens
    "temperature": (float, None),  # None: not sent (the server's default)
    "top_p": (float, None),
    "seed": (int, None),
    "top_logprobs": (int, 20),
    "image_order": (str, "query"),  # query | image-first | text-first
    "image_encoding": (str, "png"),  # original | png | jpeg95
    "tokenizer": (str, None),
    "timeout": (float, 120.0),
    "retries": (int, 6),
    "backoff": (float, 1.0),
    "max_backoff": (float, 60.0),
    "max_retry_after": (float, 300.0),
    "concurrency": (int, 8),
    "extra_body": (str, None),  # JSON object merged into every request body (e.g. reasoning settings)
}


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIBackend:
    cacheable = True
    batch_size = 1

    def __init__(self, base_url: str, model: str, **opts: Any):
        url = urllib.parse.urlsplit(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UnoError(f"judge base_url {base_url!r} is not an http(s) URL")
        if url.username or url.password or url.query or url.fragment:
            raise UnoError("judge base_url must not carry credentials or a query string: "
                           "put the key in the environment variable named by api_key_env")
        self.base_url = urllib.parse.urlunsplit((url.scheme, url.netloc, url.path, "", ""))
        self.model = model
        self.opts = {key: default for key, (_, default) in OPTIONS.items()} | opts
        if self.opts["image_order"] not in ("query", "image-first", "text-first"):
            raise UnoError(f"image_order must be query, image-first or text-first, not {self.opts['image_order']!r}")
        if self.opts["image_encoding"] not in ("original", "png", "jpeg95"):
            raise UnoError(f"image_encoding must be original, png or jpeg95, not {self.opts['image_encoding']!r}")
        self.extra_body = json.loads(self.opts["extra_body"]) if self.opts["extra_body"] else {}
        if not isinstance(self.extra_body, dict):
            raise UnoError("extra_body must be a JSON object")
        self.concurrency = max(1, int(self.opts["concurrency"]))
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._tokenizer = None
        self._tokenizer_lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        o = self.opts
        return {
            "name": "openai",
            "model": self.model,
            "served_model": o["served_model"] or self.model,
            "revision": o["revision"],
            "endpoint": self.base_url,
            "decoding": {"max_tokens": o["max_tokens"], "temperature": o["temperature"], "top_p": o["top_p"],
                         "seed": o["seed"], "top_logprobs": o["top_logprobs"], "extra_body": self.extra_body},
            "image_order": o["image_order"],
            "image_encoding": o["image_encoding"],
            "variant_matching": f"tokenizer:{o['tokenizer']}" if o["tokenizer"] else "text",
        }

    # ----------------------------------------------------------------------------------- request

    def _payload(self, query: Query) -> dict[str, Any]:
        o = self.opts
        images = [{"type": "image_url", "image_url": {"url": img.data_url(o["image_encoding"])}} for img in query.images]
        if query.parts:  # the protocol's own interleaving of text and images
            content = [images[i] if kind == "image" else {"type": "text", "text": i} for kind, i in query.content()]
        else:
            image_first = query.image_first if o["image_order"] == "query" else o["image_order"] == "image-first"
            text = [{"type": "text", "text": query.text}]
            content = images + text if image_first else text + images
        payload: dict[str, Any] = {
            "model": o["served_model"] or self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": o["max_tokens"] or query.max_tokens,
        }
        for key in ("temperature", "top_p", "seed"):
            if o[key] is not None:
                payload[key] = o[key]
        if query.candidates:
            payload["logprobs"] = True
            payload["top_logprobs"] = o["top_logprobs"]
        return {**payload, **self.extra_body}

    def _http(self) -> httpx.Client:
        """The backend's one client, made on first use (thread-safe, pooled to `concurrency` connections)."""
        with self._client_lock:
            if self._client is None:
                limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
                self._client = httpx.Client(timeout=self.opts["timeout"], limits=limits, trust_env=True)
            return self._client

    def _post(self, body: bytes) -> dict[str, Any]:
        """One HTTP request; the parsed JSON reply, or _Retryable / JudgeUnavailableError."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.opts["api_key_env"] or "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            response = self._http().post(f"{self.base_url}/chat/completions", content=body, headers=headers)
        except httpx.TransportError as exc:  # timeouts, refused or reset connections, truncated bodies
            raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        status, data = response.status_code, response.content
        if status == 429 or status in RETRY_STATUSES or status >= 500:
            raise _Retryable(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
        if status != 200:
            excerpt = data[:300].decode("utf-8", "replace").replace("\n", " ")
            if key:
                excerpt = excerpt.replace(key, "***")  # a proxy echoing headers must not leak it
            raise JudgeUnavailableError(f"judge endpoint answered HTTP {status}: {excerpt}", calls=1)
        try:
            reply = json.loads(data)
            reply["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(f"reply is not complete chat-completions JSON ({len(data)} bytes)") from None
        return reply

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.opts["max_backoff"], self.opts["backoff"] * 2 ** (attempt - 1))
        delay = cap / 2 + random.uniform(0, cap / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.opts["max_retry_after"]))
        return delay

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return self._delay(state.attempt_number, getattr(exc, "retry_after", None))

    def _ask_one(self, query: Query) -> Answer:
        body = json.dumps(self._payload(query)).encode("utf-8")
        attempts = self.opts["retries"] + 1
        retrying = Retrying(stop=stop_after_attempt(attempts), wait=self._wait,
                            retry=retry_if_exception_type(_Retryable), reraise=True)
        calls = 0
        try:
            for attempt in retrying:
                with attempt:
                    calls = attempt.retry_state.attempt_number
                    with self._slots:
                        reply = self._post(body)
                    answer = self._answer(reply, query)
        except _Retryable as exc:
            raise JudgeUnavailableError(f"judge endpoint failed {attempts} times (last: {exc})",
                                        calls=attempts, retries=attempts - 1) from None
        except JudgeUnavailableError as exc:
            raise JudgeUnavailableError(str(exc), calls=calls, retries=calls - 1) from None
        answer.calls, answer.retries = calls, calls - 1
        return answer

    def ask(self, queries: list[Query]) -> list[Answer]:
        return [self._ask_one(q) for q in queries]

    # ----------------------------------------------------------------------------------- replies

    def _first_token_text(self, candidate: str) -> str:
        if not self.opts["tokenizer"]:
            return candidate
        with self._tokenizer_lock:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.opts["tokenizer"])
        ids = self._tokenizer.encode(candidate, add_special_tokens=False)
        return self._tokenizer.decode(ids[:1])

    def _answer(self, reply: dict[str, Any], query: Query) -> Answer:
        choice = reply["choices"][0]
        text = choice["message"].get("content")
        meta: dict[str, Any] = {"finish_reason": choice.get("finish_reason")}
        if reply.get("model"):
            meta["model"] = reply["model"]  # the dated version the server says it ran
        if not query.candidates:
            return Answer(text, meta=meta)
        try:
            first = choice["logprobs"]["content"][0]
            top = {}
            for entry in first.get("top_logprobs") or []:
                top.setdefault(entry["token"], math.exp(entry["logprob"]))
            top.setdefault(first["token"], math.exp(first["logprob"]))
        except (KeyError, IndexError, TypeError):
            raise JudgeUnavailableError(
                "the endpoint returned no first-token logprobs (this protocol needs logprobs/top_logprobs)", calls=1
            ) from None
        probs, outside = [], 0
        for candidate in query.candidates:
            token = self._first_token_text(candidate)
            probs.append(top.get(token, 0.0))
            outside += token not in top
        meta["candidates_outside_top_k"] = outside
        return Answer(text, candidate_probs=probs, top_token=first["token"], meta=meta)


def load_judge(role: str, options: Mapping[str, str], defaults: Mapping[str, str] | None = None,
               name: str = "openai") -> OpenAIBackend:
    check_role(name, role)
    opts = parse_options({**(defaults or {}), **options}, OPTIONS, name)
    base_url, model = opts.pop("base_url"), opts.pop("model")
    if not base_url or not model:
        raise UnoError(f"judge '{name}' needs --judge-option base_url=URL and --judge-option model=NAME "
                       "(the key comes from $OPENAI_API_KEY or the variable named by api_key_env)")
    return OpenAIBackend(base_url, model, **opts)


def load_gemini(role: str, options: Mapping[str, str]) -> OpenAIBackend:
    """UniGenBench++'s leaderboard judge through Google's OpenAI-compatible endpoint (text, then the
    image file's own bytes; temperature not set, as in the official script). Google's endpoint needs
    a key, so a missing one is refused before anything is judged."""
    defaults = {"base_url": GEMINI_BASE_URL, "model": "gemini-2.5-pro", "api_key_env": "GEMINI_API_KEY",
                "image_order": "text-first", "image_encoding": "original", "concurrency": "8"}
    backend = load_judge(role, options, defaults, "gemini-2.5-pro")
    env = backend.opts["api_key_env"]
    if backend.base_url == GEMINI_BASE_URL and not os.environ.get(env or ""):
        raise UnoError(f"judge 'gemini-2.5-pro' needs an API key in ${env} (never passed as an option)")
    return backend


def load_unigenbench_qwen(role: str, options: Mapping[str, str]) -> OpenAIBackend:
    """The released offline UniGenBench judge served by vLLM (`--served-model-name QwenVL`): image
    first, re-encoded as JPEG q95, as the official vLLM client sends it; temperature 0 set
    explicitly (the official client's do_sample=False is ignored by vLLM)."""
    defaults = {"model": "CodeGoat24/UniGenBench-EvalModel-qwen3vl-32b-v1", "served_model": "QwenVL",
                "image_order": "image-first", "image_encoding": "jpeg95", "temperature": "0",
                "api_key_env": "VLLM_API_KEY"}
    return load_judge(role, options, defaults, "unigenbench-qwen")
