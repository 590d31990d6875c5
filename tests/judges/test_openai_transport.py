"""The `openai` backend's transport (httpx): connections kept alive across requests, proxies taken from the
environment. Against a real server on 127.0.0.1; the 'proxy' is that same server, which sees the absolute
URL a client sends to a proxy."""

from __future__ import annotations

from judge_fixtures import Reply, chat_server, completion
from test_openai_backend import _backend, _image

from uno_bench.judges.vlm import Query


def test_requests_reuse_one_connection():
    with chat_server(lambda body, n: Reply(body=completion("ok"))) as server:
        backend = _backend(server.url)
        for i in range(3):
            backend.ask([Query(f"Q{i}", (_image(),))])
        assert server.calls == 3 and len({seen.peer for seen in server.requests}) == 1


def test_proxy_from_the_environment(monkeypatch):
    with chat_server(lambda body, n: Reply(body=completion("via proxy"))) as proxy:
        proxy_url = proxy.url.removesuffix("/v1")
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        backend = _backend("http://judge.example.invalid/v1")  # unresolvable: only the proxy can answer
        [answer] = backend.ask([Query("Q", (_image(),))])
        assert answer.text == "via proxy"
        assert proxy.requests[0].path == "http://judge.example.invalid/v1/chat/completions"
