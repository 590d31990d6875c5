"""The `openai` backend against a real chat-completions server on 127.0.0.1: request shape, key
handling, first-token probabilities, and every transport fault it must survive."""

from __future__ import annotations

import base64
import io
import math
import threading
import time

import pytest
from judge_fixtures import Reply, chat_server, completion
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.openai_http import OpenAIBackend, load_gemini, load_judge, parse_retry_after
from uno_bench.judges.vlm import ImageInput, JudgeUnavailableError, Query

KEY = "sk-test-SECRET-0123456789"


def _image(color=(10, 200, 30)) -> ImageInput:
    img = Image.new("RGB", (8, 6), color)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return ImageInput(img, buf.getvalue(), "image/png")


def _backend(url: str, **opts) -> OpenAIBackend:
    base = {"base_url": url, "model": "judge-m", "api_key_env": "UNO_TEST_JUDGE_KEY", "backoff": "0.01",
            "max_backoff": "0.05"}
    return load_judge("vlm", {**base, **{k: str(v) for k, v in opts.items()}})


def test_request_shape_key_and_identity(monkeypatch):
    monkeypatch.setenv("UNO_TEST_JUDGE_KEY", KEY)
    with chat_server(lambda body, n: Reply(body=completion("fine"))) as server:
        backend = _backend(server.url, temperature="0", image_encoding="original")
        image = _image()
        [answer] = backend.ask([Query("Describe.", (image,), image_first=False, max_tokens=77)])
        assert answer.text == "fine" and answer.calls == 1 and answer.retries == 0
        assert answer.meta["model"] == "scripted-judge-2025-01-01"
        seen = server.requests[0]
        assert seen.headers["Authorization"] == f"Bearer {KEY}"
        body = seen.body
        assert body["model"] == "judge-m" and body["max_tokens"] == 77 and body["temperature"] == 0
        assert "logprobs" not in body
        text_part, image_part = body["messages"][0]["content"]
        assert text_part == {"type": "text", "text": "Describe."}
        url = image_part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == image.data
    identity = str(backend.identity())
    assert KEY not in identity and "judge-m" in identity and server.url in identity


def test_image_first_jpeg_and_served_model():
    with chat_server(lambda body, n: Reply(body=completion("ok"))) as server:
        backend = _backend(server.url, image_order="image-first", image_encoding="jpeg95", served_model="QwenVL")
        backend.ask([Query("Q", (_image(),), image_first=False)])
        body = server.requests[0].body
        assert body["model"] == "QwenVL"
        first, second = body["messages"][0]["content"]
        assert first["image_url"]["url"].startswith("data:image/jpeg;base64,") and second["type"] == "text"
    assert backend.identity()["model"] == "judge-m" and backend.identity()["served_model"] == "QwenVL"


def test_first_token_probabilities_from_top_logprobs():
    logprobs = {"Yes": math.log(0.6), "yes": math.log(0.1), " yes": math.log(0.05), "No": math.log(0.2)}
    with chat_server(lambda body, n: Reply(body=completion("Yes", logprobs))) as server:
        backend = _backend(server.url, top_logprobs=5)
        [answer] = backend.ask([Query("Is it?", (_image(),), candidates=("Yes", "yes", " yes", " Yes"))])
        body = server.requests[0].body
        assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] == 1
    assert answer.candidate_probs == pytest.approx([0.6, 0.1, 0.05, 0.0])
    assert answer.top_token == "Yes" and answer.meta["candidates_outside_top_k"] == 1
    assert backend.identity()["variant_matching"] == "text"


def test_missing_logprobs_is_a_clear_failure():
    with chat_server(lambda body, n: Reply(body=completion("Yes"))) as server:
        with pytest.raises(JudgeUnavailableError, match="no first-token logprobs"):
            _backend(server.url).ask([Query("Is it?", (_image(),), candidates=("Yes",))])


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "truncated", "not-json", "reset"])
def test_transient_faults_are_retried(fault):
    def respond(body, n):
        if n > 1:
            return Reply(body=completion("recovered"))
        return {
            "429": Reply(429, {"error": "slow down"}, {"Retry-After": "1"}),
            "500": Reply(500, {"error": "boom"}),
            "timeout": Reply(body=completion("too late"), delay=3.0),
            "truncated": Reply(body=completion("cut " * 50), truncate=True),
            "not-json": Reply(body=b"<html>gateway</html>"),
            "reset": Reply(body=b"", truncate=True, status=200),
        }[fault]

    with chat_server(respond) as server:
        backend = _backend(server.url, timeout=1.5 if fault == "timeout" else 30)
        start = time.monotonic()
        [answer] = backend.ask([Query("Q", (_image(),))])
        elapsed = time.monotonic() - start
    assert answer.text == "recovered" and answer.calls == 2 and answer.retries == 1 and server.calls == 2
    if fault == "429":
        assert elapsed >= 1.0  # Retry-After honoured over the 10 ms backoff


def test_exhausted_retries_and_fatal_statuses(monkeypatch):
    monkeypatch.setenv("UNO_TEST_JUDGE_KEY", KEY)
    with chat_server(lambda body, n: Reply(503, {"error": "down"})) as server:
        with pytest.raises(JudgeUnavailableError, match="failed 3 times") as info:
            _backend(server.url, retries=2).ask([Query("Q", (_image(),))])
        assert server.calls == 3 and info.value.record_fields["judge_stats"] == {"calls": 3, "retries": 2}
    with chat_server(lambda body, n: Reply(401, {"error": f"bad key {KEY}"})) as server:
        with pytest.raises(JudgeUnavailableError, match="HTTP 401") as info:
            _backend(server.url).ask([Query("Q", (_image(),))])
        assert server.calls == 1 and KEY not in str(info.value)


def test_concurrency_limit_holds_across_threads():
    with chat_server(lambda body, n: Reply(body=completion("ok"), delay=0.15)) as server:
        backend = _backend(server.url, concurrency=2)
        threads = [threading.Thread(target=backend.ask, args=([Query(f"Q{i}", (_image(),))],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.calls == 6 and server.max_in_flight == 2


def test_options_and_urls_are_checked(monkeypatch):
    with pytest.raises(UnoError, match="needs --judge-option base_url"):
        load_judge("vlm", {})
    with pytest.raises(UnoError, match="must not carry credentials"):
        load_judge("vlm", {"base_url": "https://u:p@example.com/v1", "model": "m"})
    with pytest.raises(UnoError, match="must not carry credentials"):
        load_judge("vlm", {"base_url": "https://example.com/v1?key=abc", "model": "m"})
    with pytest.raises(UnoError, match="takes no option"):
        load_judge("vlm", {"base_url": "http://x/v1", "model": "m", "api_key": "abc"})
    with pytest.raises(UnoError, match="cannot serve as a detector"):
        load_judge("detector", {"base_url": "http://x/v1", "model": "m"})
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(UnoError, match=r"needs an API key in \$GEMINI_API_KEY"):
        load_gemini("vlm", {})
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    gemini = load_gemini("vlm", {}).identity()
    assert gemini["model"] == "gemini-2.5-pro" and gemini["image_order"] == "text-first"
    assert gemini["image_encoding"] == "original" and gemini["decoding"]["temperature"] is None
    assert parse_retry_after("3") == 3.0 and parse_retry_after("nonsense") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") < 1
