"""The judge stays bounded against a hostile endpoint: its --timeout holds however slowly the headers come, a
reply is read up to a size, a reply nested too deep is one error line, and the cache is never written through a
symbolic link. The endpoint is a local server on 127.0.0.1, one per test, each reply over within 3 s."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib import judge as judge_mod
from lib.judge import Judge, JudgeError
from lib.cli import UserError

ANSWER = json.dumps({"choices": [{"message": {"content": "Output (a)"}}]}).encode()


class Hostile:
    """An endpoint that answers every POST with `reply`: "slow headers" sends a header a byte every 0.05 s (52
    bytes), "deep" a JSON array nested 200,000 deep, "large N" N bytes, "answer" a verdict."""

    def __init__(self, reply):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                data = b"[" * 200_000 + b"]" * 200_000 if reply == "deep" else ANSWER
                if reply.startswith("large "):
                    data = b'{"choices": "' + b"a" * int(reply.split()[1]) + b'"}'
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    for _ in range(52 if reply == "slow headers" else 0):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                        time.sleep(0.05)
                    self.wfile.write(b"\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
                except OSError:                  # the client gave up, as it should
                    pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def endpoint():
    servers = []

    def start(reply):
        servers.append(Hostile(reply))
        return servers[-1].url
    yield start
    for s in servers:
        s.server.shutdown()
        s.server.server_close()


def test_the_timeout_covers_headers_sent_a_byte_at_a_time(endpoint):
    judge = Judge(endpoint("slow headers"), "m", retries=0, timeout=0.3, backoff=0)
    t = time.monotonic()
    with pytest.raises(JudgeError, match="longer than --timeout"):
        judge.ask("which?")
    assert time.monotonic() - t < 1.0                       # 3 s of headers, each byte well within 0.3 s


@pytest.mark.parametrize("reply, limit, msg", [("large 2000000", judge_mod.MAX_REPLY, "over 1048576 bytes"),
                                               ("large 100000", 1000, "over 1000 bytes"),
                                               ("deep", judge_mod.MAX_REPLY, "RecursionError")])
def test_a_reply_too_large_or_too_deep_is_one_error_line(endpoint, reply, limit, msg):
    judge = Judge(endpoint(reply), "m", retries=1, timeout=2.0, backoff=0, max_reply=limit)
    t = time.monotonic()
    with pytest.raises(JudgeError, match=msg) as e:
        judge.ask("which?")
    assert time.monotonic() - t < 2.0 and "\n" not in str(e.value) and judge.calls == 2


def test_the_cache_is_never_written_through_a_symbolic_link(endpoint, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"keep": 1}\n')
    link = tmp_path / "cache.jsonl"
    link.symlink_to(data)
    with pytest.raises(UserError, match="symbolic link"):
        Judge(endpoint("answer"), "m", cache=str(link))
    # A link put in the cache's place after the judge started: refused as it writes, the answer not kept.
    plain = tmp_path / "plain.jsonl"
    judge = Judge(endpoint("answer"), "m", cache=str(plain), backoff=0)
    plain.unlink()
    plain.symlink_to(data)
    with pytest.raises(UserError, match="cannot write the judge's cache"):
        judge.ask("which?")
    assert data.read_text() == '{"keep": 1}\n'
    plain.unlink()
    assert judge.ask("another?") == "a" and plain.read_text().count("verdict") == 1
