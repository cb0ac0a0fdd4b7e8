"""Driving the study page in Debian's Chromium: shared by the browser tests and `bench/screenshots.py`.

`serve` starts the page on a free loopback port and waits until it answers;
`open_page` opens it in a fresh browser context (its own local storage) at
a desktop or phone size; `ask` types a question and waits for the reply.
Chromium is Debian's (`/usr/bin/chromium`): `playwright install` cannot
download browsers here.
"""
from __future__ import annotations

import socket
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
BOT = "#rag-chat [data-testid=bot]"
USER = "#rag-chat [data-testid=user]"
INPUT = "#rag-input textarea"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(assistant, gold_dir: Path, probe: str, timeout: float = 120, watcher=None):
    """The page for `assistant` on a free port, once `/ask` answers `probe`: yields (url, client).

    `watcher` is the `ui.service.PageProgress` the assistant reports its build progress to, if any.
    """
    from gradio_client import Client

    from ui.app import build_app, launch

    app = build_app(assistant, watcher, gold_dir=gold_dir)
    port = free_port()
    launch(app, port=port, block=False)
    url = f"http://127.0.0.1:{port}/"
    client = Client(url, verbose=False)
    deadline = time.monotonic() + timeout
    while True:  # the page answers once its background index check is done
        try:
            client.predict(probe, "auto", api_name="/ask")
            break
        except Exception:
            if time.monotonic() > deadline:
                app.close()
                raise
            time.sleep(0.5)
    try:
        yield url, client
    finally:
        app.close()


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, phone: bool = False):
    """A new tab in a new browser context (its own local storage), loaded and ready for input."""
    context = browser.new_context(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone)
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.goto(url)
    tab.wait_for_selector(INPUT)
    return tab


def ask(page, text: str, wait: bool = True):
    """Type `text`, press Enter, and return the locator of the reply (waiting for it unless `wait` is False)."""
    before = page.locator(BOT).count()
    page.fill(INPUT, text)
    page.locator(INPUT).press("Enter")
    if wait:
        page.wait_for_function(f"document.querySelectorAll('{BOT}').length > {before}", timeout=60000)
    return page.locator(BOT).nth(before)


def answer_seconds(page, text: str) -> float:
    """Seconds from pressing Enter to the reply being drawn with its last line (검색: … or a warning)."""
    before = page.locator(BOT).count()
    page.fill(INPUT, text)
    started = time.perf_counter()
    page.locator(INPUT).press("Enter")
    page.wait_for_function(
        f"""() => {{ const bots = document.querySelectorAll('{BOT}');
                     return bots.length > {before} &&
                            (bots[{before}].querySelector('.rag-retrieval') || bots[{before}].textContent.includes('⚠')); }}""",
        timeout=60000)
    return time.perf_counter() - started


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
