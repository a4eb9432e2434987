"""In a real browser: start a quiz, answer a question, see the feedback and the explanation."""
from __future__ import annotations

import re

import pytest

from tests.e2e.helpers import assert_no_exception, open_method, screenshot, wait_for_app_idle

pytestmark = pytest.mark.e2e

FEEDBACK = re.compile(r"Correct\.|Not quite\.")


def _answer_first_question(main) -> None:
    """Whatever kind the first question is: pick its first option, or type a number.

    The kind is read from the first answer widget on screen, so a radio further down
    (question 2) is never answered in place of a numeric question 1."""
    first = main.locator('[data-testid="stCheckbox"], [data-testid="stRadio"], [data-testid="stTextInput"]').first
    first.wait_for()
    kind = first.get_attribute("data-testid")
    if kind == "stRadio":
        first.locator('[role="radiogroup"] label').first.click()
    elif kind == "stCheckbox":
        first.locator("label").first.click()
    else:
        box = first.locator("input")
        box.fill("1,000")
        box.press("Enter")


def _settled(page) -> None:
    """No script or fragment run in progress (Streamlit's status widget is gone)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=120_000)


def test_answer_a_question_and_see_feedback(app_url, page):
    page.goto(f"{app_url}/quiz")
    wait_for_app_idle(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("button", name="Start quiz").click()
    main.get_by_text("Question 1 of 10").wait_for()
    _answer_first_question(main)
    page.wait_for_timeout(500)  # let the widget's value reach the server
    _settled(page)
    main.get_by_role("button", name="Check answer").click()
    feedback = main.locator('[data-testid="stAlert"]').filter(has_text=FEEDBACK)
    retry = main.locator('[data-testid="stAlert"]').filter(has_text="try once more")
    feedback.or_(retry).first.wait_for()
    if not feedback.count():  # a wrong number gets one retry: the second check locks it
        _settled(page)
        main.get_by_role("button", name="Check answer").click()
    feedback.first.wait_for()
    alerts = main.locator('[data-testid="stAlert"]').all_inner_texts()
    assert sum(len(a) for a in alerts) > 80, alerts  # the explanation comes with the verdict
    main.get_by_role("button", name="Next question").wait_for()
    assert_no_exception(page, "quiz")
    screenshot(page, "quiz-feedback")


def test_method_page_ends_with_its_three_question_quiz(app_url, page):
    open_method(page, app_url, "lora_fa")
    main = page.locator('[data-testid="stMain"]')
    heading = main.get_by_text("Check yourself: LoRA-FA")
    heading.wait_for(timeout=300_000)
    heading.scroll_into_view_if_needed()
    checks = main.get_by_role("button", name="Check answer")
    checks.nth(2).wait_for(timeout=60_000)
    assert checks.count() == 3
    quiz = (main.locator('[data-testid="stVerticalBlock"]').filter(has=page.get_by_text("Check yourself: LoRA-FA"))
            .filter(has=page.get_by_role("button", name="New questions")).last)  # innermost
    _answer_first_question(quiz)
    page.wait_for_timeout(500)
    _settled(page)  # the answer has reached the server before Check is pressed
    feedback = quiz.locator('[data-testid="stAlert"]').filter(has_text=FEEDBACK).first
    for _ in range(3):  # a click that raced the answer's own rerun gets "choose an answer first";
        # a wrong number gets one retry ("try once more"): the next click locks it
        quiz.get_by_role("button", name="Check answer").first.click()
        try:
            feedback.wait_for(timeout=30_000)
            break
        except Exception:
            screenshot(page, "quiz-on-method-page-retry")
            _settled(page)
    feedback.wait_for(timeout=30_000)
    # the sidebar's progress follows at once (the quiz is a fragment; grading reruns the page)
    page.locator('[data-testid="stSidebar"]').get_by_text("LoRA-FA: ").wait_for(timeout=60_000)
    assert_no_exception(page, "LoRA-FA quiz")
    screenshot(page, "quiz-on-method-page")
