"""Stand-ins for external judges, for tests: a chat-completions server on 127.0.0.1 that answers from a
script (real HTTP, real sockets, faults on demand), and a tiny random transformers VLM built from a
config (nothing downloaded)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    truncate: bool = False  # announce the full length, send half, close


def completion(text: str | None, logprobs: dict[str, float] | None = None, token: str | None = None) -> dict:
    """A chat-completions reply; `logprobs` maps top-k token texts to log-probabilities."""
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        top = [{"token": t, "logprob": lp} for t, lp in logprobs.items()]
        first = token if token is not None else max(logprobs, key=logprobs.get)
        choice["logprobs"] = {"content": [{"token": first, "logprob": logprobs.get(first, -50.0), "top_logprobs": top}]}
    return {"id": "x", "object": "chat.completion", "model": "scripted-judge-2025-01-01", "choices": [choice]}


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]
    path: str = ""  # as on the request line: an absolute URL when the client came through it as a proxy
    peer: tuple[str, int] | None = None  # the client's address: one port = one kept-alive connection


class ChatServer:
    """Answers POST /v1/chat/completions with `responder(request_body, call_number) -> Reply`."""

    def __init__(self, responder: Callable[[dict[str, Any], int], Reply]):
        self.responder = responder
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests.append(Seen(body, dict(self.headers.items()), self.path, self.client_address))
                    number = len(server.requests)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server.responder(body, number)
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with server._lock:  # before answering: the client may send its next request at once
                        server.in_flight -= 1
                try:
                    data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2] if reply.truncate else data)
                    self.wfile.flush()
                    if reply.truncate:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a real server's backlog: concurrent clients are not refused

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def start(self) -> ChatServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def chat_server(responder: Callable[[dict[str, Any], int], Reply]) -> Iterator[ChatServer]:
    server = ChatServer(responder).start()
    try:
        yield server
    finally:
        server.stop()


def user_text(body: dict[str, Any]) -> str:
    return next(part["text"] for part in body["messages"][0]["content"] if part["type"] == "text")


# ------------------------------------------------------------------------------------- tiny VLM

WORDS = ["Yes", "yes", "No", "no", "one", "two", "three", "four", "five", "six", "seven", "1", "2", "3", "4",
         "5", "6", "7", "other", "How", "many", "are", "there", "in", "the", "image", "?", "Answer", "word", ".",
         "a", "cat", "dog", "user", "assistant", "\n", " ", "<analysis>", "</analysis>", "<score>", "</score>",
         "[", "]", "0", ","]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tiny_vlm(folder: Path, seed: int = 0) -> Path:
    """A random Qwen3-VL with ~0.1M parameters and a word-level tokenizer, saved with its processor.

    The tokenizer splits on spaces and keeps them as tokens, so " yes", " four" and " 4" all start
    with the token " ": GenEval 2's variant double counting happens for real."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(["[UNK]", *WORDS])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="isolated")
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="[UNK]")
    ids = {s: fast.convert_tokens_to_ids(s) for s in SPECIALS}
    config = Qwen3VLConfig(
        text_config={"vocab_size": len(fast), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
                     "max_position_embeddings": 1024, "eos_token_id": ids["<|im_end|>"],
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                         "mrope_interleaved": True}},
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 32,
                       "num_position_embeddings": 64, "deepstack_visual_indexes": [1]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    image_processor = Qwen2VLImageProcessor(patch_size=16, merge_size=2, temporal_patch_size=2,
                                            size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64})
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=fast,
                                 video_processor=Qwen3VLVideoProcessor(patch_size=16, merge_size=2,
                                                                       temporal_patch_size=2),
                                 chat_template=CHAT_TEMPLATE)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
