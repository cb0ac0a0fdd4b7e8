"""Shared test set-up: no network, tiny fixture notes, temporary index folders, test tiers.

Every test runs with outbound sockets blocked: only loopback addresses (for
the Gradio server the page tests start) and Unix sockets may be connected.

Every test belongs to one tier, a pytest marker:

- `fast`: the hash embedder, no browser, no packaged model (`pytest -m fast`, for development);
- `model`: loads a packaged model (e5, USE, MiniLM);
- `browser`: drives Debian chromium through Playwright;
- `slow`: long runs (crash trials, a model server).

A test without a tier marker is `model` when it uses a model fixture and
`fast` otherwise. A `fast` test that touches a packaged model fails with a
message saying to mark it, so the fast tier stays fast by construction.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


class NetworkBlocked(RuntimeError):
    pass


def _is_loopback(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard(address):
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise NetworkBlocked(f"tests may not open network connections (to {address[0]})")


def _connect(self, address):
    _guard(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _guard(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        raise NetworkBlocked(f"tests may not resolve {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


TIERS = ("fast", "model", "browser", "slow")
MODEL_FIXTURES = frozenset({"e5_assistant"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        tiers = {m.name for m in item.iter_markers() if m.name in TIERS}
        if not tiers:
            item.add_marker("model" if MODEL_FIXTURES & set(item.fixturenames) else "fast")
        elif len(tiers) > 1 and "fast" in tiers:
            raise pytest.UsageError(f"{item.nodeid} is marked fast and {sorted(tiers - {'fast'})}; pick one tier")


class PackagedModelInFastTest(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def fast_tests_load_no_model(request, monkeypatch):
    """In the fast tier, encoding with a packaged model is an error that names the fix."""
    if request.node.get_closest_marker("fast") is None:
        return
    from rag import embed

    def refuse(self, *args, **kwargs):
        raise PackagedModelInFastTest(f"{request.node.nodeid} encodes with {type(self).__name__}; "
                                      "mark it @pytest.mark.model or use the hash embedder")

    for cls in (embed.E5Embedder, embed.UseEmbedder, embed.SentenceTransformerEmbedder):
        monkeypatch.setattr(cls, "encode", refuse)


@pytest.fixture(autouse=True, scope="session")
def block_network():
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.getaddrinfo = _getaddrinfo
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture
def notes_dir(tmp_path) -> Path:
    """A writable copy of the fixture notes (and their errata)."""
    target = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "notes", target)
    return target


def make_settings(tmp_path: Path, corpus: Path, embedders=("hash",), **changes):
    from rag.settings import Settings

    changes.setdefault("option_embedder", "" if embedders == ("hash",) else "use")
    return Settings().with_overrides(corpus_dir=corpus, index_dir=tmp_path / "index", embedders=embedders, **changes)


@pytest.fixture
def hash_assistant(tmp_path, notes_dir):
    """An assistant over the fixture notes with the fast fake embedder."""
    from rag.engine import Assistant

    assistant = Assistant(make_settings(tmp_path, notes_dir), log=lambda m: None)
    assistant.ensure_index()
    return assistant


@pytest.fixture(scope="session")
def e5_assistant(tmp_path_factory):
    """An assistant over the fixture notes with the real packaged default model (e5)."""
    from rag.engine import Assistant

    root = tmp_path_factory.mktemp("e5")
    corpus = root / "corpus"
    shutil.copytree(FIXTURES / "notes", corpus)
    assistant = Assistant(make_settings(root, corpus, embedders=("e5",)), log=lambda m: None)
    assistant.ensure_index()
    return assistant
