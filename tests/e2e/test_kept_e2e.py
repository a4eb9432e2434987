"""In a real browser, against a real store: a learner answers two quiz questions and finishes a
lab run; after a reload the sidebar progress, the quiz position and the run (curves, results,
adapter download) are still there; after a server restart the resume link brings back the same.
Once on a SQLite file, once on a real PostgreSQL server.
"""
from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import assert_no_exception, screenshot, wait_for_app_idle
from tests.server import free_port, running_app
from tests.stores import postgres_server, store_url  # noqa: F401  (fixtures: a SQLite file, a PostgreSQL server)
from tests.tiny import TINY_CSV

pytestmark = pytest.mark.e2e
FEEDBACK = re.compile(r"Correct|Not quite\.")
CURVE_POINTS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const curves = plots.find(p => (p.layout?.title?.text || '').includes('Training loss'));
    return curves && curves.data.length ? curves.data[0].x.length : 0;
}"""


def _settle(page) -> None:
    page.wait_for_timeout(600)  # let a widget's value reach the server
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def _answer_and_check(page, main) -> None:
    """Answer the question on screen (its first option, or a number) and press Check until graded
    (a wrong number gets one more try: pressing Check again grades it)."""
    first = main.locator('[data-testid="stCheckbox"], [data-testid="stRadio"], [data-testid="stTextInput"]').first
    kind = first.get_attribute("data-testid")
    if kind == "stRadio":
        first.locator('[role="radiogroup"] label').first.click()
    elif kind == "stCheckbox":
        first.locator("label").first.click()
    else:
        first.locator("input").fill("1,000")
        first.locator("input").press("Enter")
    _settle(page)
    feedback = main.locator('[data-testid="stAlert"]').filter(has_text=FEEDBACK)
    for _ in range(3):
        main.get_by_role("button", name="Check answer").click()
        _settle(page)
        if feedback.count():
            return
    raise AssertionError("the answer was never graded")


def _sidebar_progress(page) -> str:
    bar = page.locator('[data-testid="stSidebar"]')
    bar.get_by_text("correct so far").wait_for(timeout=60_000)
    return bar.get_by_text("correct so far").inner_text()


def _quiz_position(page) -> str:
    return page.locator('[data-testid="stMain"] [data-testid="stProgress"]').first.inner_text()


def _lab_has_the_run(page) -> None:
    main = page.locator('[data-testid="stMain"]')
    main.locator('[data-testid="stDataFrame"]').wait_for(timeout=300_000)
    expect(main.get_by_text("tiny.csv").first).to_be_attached()
    page.wait_for_function(f"({CURVE_POINTS})() == 3", timeout=120_000)  # the kept curve: 3 steps
    main.get_by_role("tab", name="Download adapter").click()
    expect(main.get_by_role("button", name=re.compile("Download adapter"))).to_be_visible(timeout=60_000)
    assert_no_exception(page, "lab")


def _resume_link(page) -> str:
    bar = page.locator('[data-testid="stSidebar"]')
    bar.get_by_text("Your work is kept").click()
    code = bar.locator('[data-testid="stCode"]').first
    code.wait_for()
    return code.inner_text().strip()


@pytest.mark.timeout(1200)
def test_work_survives_a_reload_and_a_server_restart(browser, store_url, tmp_path):
    env = {"PEFT_LAB_DB": store_url, "PEFT_LAB_DATA": str(tmp_path / "data")}
    port = free_port()
    csv = tmp_path / "tiny.csv"
    csv.write_bytes(TINY_CSV)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    with running_app("streamlit-kept-1.log", port=port, env=env) as server:
        page.goto(f"{server.url}/quiz")
        wait_for_app_idle(page)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_role("button", name="Start quiz").click()
        main.get_by_text("Question 1 of 10").wait_for()
        _answer_and_check(page, main)
        main.get_by_role("button", name="Next question").click()
        main.get_by_text(re.compile("Question 2 of 10")).wait_for()
        _answer_and_check(page, main)
        progress, position = _sidebar_progress(page), _quiz_position(page)
        assert re.search(r"of 2 correct so far", progress), progress
        link = _resume_link(page)
        code = re.search(r"learner=([a-z0-9]+)", link).group(1)
        assert f"learner={code}" in page.url

        page.goto(f"{server.url}/lab?learner={code}")
        wait_for_app_idle(page, timeout_ms=180_000)
        main.get_by_text("Upload a CSV (text, label)").click()
        _settle(page)
        main.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(csv))
        main.get_by_text("tiny.csv").first.wait_for()
        steps = main.get_by_label("Steps")
        steps.fill("3")
        steps.press("Enter")
        _settle(page)
        main.locator(".st-key-lab_start button").first.click()
        _lab_has_the_run(page)
        screenshot(page, "kept-lab-finished")

        page.reload()  # a refresh: a new session, the code in the URL
        wait_for_app_idle(page, timeout_ms=180_000)
        _lab_has_the_run(page)
        page.goto(f"{server.url}/quiz?learner={code}")
        wait_for_app_idle(page)
        assert _quiz_position(page) == position and _sidebar_progress(page) == progress
        expect(main.locator('[data-testid="stAlert"]').filter(has_text=FEEDBACK).first).to_be_visible()

    with running_app("streamlit-kept-2.log", port=port, env=env):  # the server was restarted
        page.goto(link)  # the resume link, as shown in the sidebar
        wait_for_app_idle(page)
        assert _sidebar_progress(page) == progress
        page.goto(f"{link.split('/?')[0]}/quiz?learner={code}")
        wait_for_app_idle(page)
        assert _quiz_position(page) == position
        page.goto(f"{link.split('/?')[0]}/lab?learner={code}")
        wait_for_app_idle(page, timeout_ms=180_000)
        _lab_has_the_run(page)
        with page.expect_download() as download:
            main.get_by_role("button", name=re.compile("Download adapter")).click()
        path = tmp_path / "adapter.zip"
        download.value.save_as(path)
        with zipfile.ZipFile(path) as z:
            assert "adapter/adapter_config.json" in z.namelist()
        screenshot(page, "kept-lab-after-restart")
    context.close()
