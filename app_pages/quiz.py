"""The Quiz page: choose topics and length, answer with immediate feedback, see the score,
review wrong answers with links to the pages that teach them, download the results, retake.

Questions, grading, scores and exports come from ``peft_edu.quiz``; this script is UI only.
"""
import streamlit as st

from ui import learner, quiz_keep
from ui.quiz_widgets import learn_more, read_response, render_question
from ui.state import init_state
from peft_edu.quiz import default_bank, results_csv, results_json, sample_quiz, topic_scores

init_state()
learner.current()  # the learner's kept quiz is in the session state from here on
BANK = default_bank()
LENGTHS = (5, 10, 15, 20, 30)
state = st.session_state


# --- callbacks (run before the script, so the sidebar progress is always current) ----------
def _keep() -> None:
    """The quiz as it stands now, kept for the learner (a refresh or the resume link finds it)."""
    quiz_keep.save(learner.store(), learner.learner_id())


def _mirror(widget_key: str, state_key: str) -> None:
    state[state_key] = state[widget_key]
    _keep()


def start_quiz() -> None:
    """A new quiz with a fresh random seed: new questions, orders and generated numbers."""
    state["quiz_current"] = sample_quiz(BANK, state["quiz_topics"], n=state["quiz_length"])
    state["quiz_position"] = 0
    state["quiz_graded"] = {}
    state["quiz_responses"] = {}
    state["quiz_finished"] = False
    _keep()


def next_question() -> None:
    state["quiz_position"] += 1
    _keep()


def finish_quiz() -> None:
    state["quiz_finished"] = True
    _keep()


def change_topics() -> None:
    state["quiz_current"] = None
    _keep()


def _store(index: int):
    def store(graded) -> None:
        quiz = state["quiz_current"]
        state["quiz_graded"][index] = graded
        response = read_response(graded.question, f"quiz_{quiz.seed}_{index}")
        state["quiz_responses"][index] = {"response": response, "tries": graded.tries}
        _keep()
    return store


# --- views -------------------------------------------------------------------------------
def setup_view() -> None:
    counts = BANK.count_by_topic()
    st.markdown(
        "Test what you learned. Every answer is explained on the spot, with a link to the page "
        "that teaches it. Numeric questions are generated with random sizes and answered by "
        "`peft_edu`'s own formulas, so a retake is never the same."
    )
    for widget, key in (("quiz_topics_w", "quiz_topics"), ("quiz_length_w", "quiz_length")):
        state.setdefault(widget, state[key])
    st.multiselect(
        "Topics (leave empty for all)", list(BANK.topics), key="quiz_topics_w",
        format_func=lambda t: f"{BANK.topics[t]} ({counts[t]})",
        on_change=_mirror, args=("quiz_topics_w", "quiz_topics"),
        placeholder="All topics",
    )
    st.select_slider("Number of questions", LENGTHS, key="quiz_length_w",
                     on_change=_mirror, args=("quiz_length_w", "quiz_length"))
    chosen = state["quiz_topics"] or list(BANK.topics)
    available = sum(counts[t] for t in chosen)
    if available < state["quiz_length"]:
        st.info(f"These topics have {available} questions, so the quiz will have {available}.")
    st.caption(
        "Scoring: single choice — the one correct option; multiple select — all-or-nothing, "
        "exactly the correct options must be ticked; numeric — the exact number, or within "
        "the tolerance the question states, in any unit of the right kind (1,120 GB = 1.12 TB); "
        "an answer that cannot be read is not graded, and a wrong number may be corrected once. "
        "Options appear in a new order in every attempt."
    )
    st.button("Start quiz", type="primary", icon=":material/play_arrow:", on_click=start_quiz)


def question_view() -> None:
    quiz, position, graded = state["quiz_current"], state["quiz_position"], state["quiz_graded"]
    n = len(quiz.questions)
    right = sum(g.correct for g in graded.values())
    st.progress(len(graded) / n, text=f"Question {position + 1} of {n} · {right} correct so far")
    with st.container(border=True):
        render_question(quiz.questions[position], f"quiz_{quiz.seed}_{position}",
                        graded.get(position), _store(position))
    if position in graded:
        if position + 1 < n:
            st.button("Next question", type="primary", icon=":material/arrow_forward:",
                      on_click=next_question)
        else:
            st.button("See my score", type="primary", icon=":material/flag:", on_click=finish_quiz)
    st.button("Quit and choose other topics", type="tertiary", on_click=change_topics)


def results_view() -> None:
    quiz, graded = state["quiz_current"], state["quiz_graded"]
    answers = [graded[i] for i in sorted(graded)]
    right = sum(g.correct for g in answers)
    share = right / len(answers) if answers else 0.0
    st.header(f"Your score: {right} / {len(answers)}")
    st.progress(share, text=f"{share:.0%} correct")
    if share == 1:
        st.balloons()
    st.markdown(_verdict(share))
    st.subheader("By topic")
    cols = st.columns(2)
    for i, s in enumerate(topic_scores(BANK, answers)):
        cols[i % 2].progress(s.correct / s.answered, text=f"**{s.title}**: {s.correct} of {s.answered} correct")
    review(answers)
    downloads(answers, quiz.seed)
    cols = st.columns(2)
    cols[0].button("Retake with new questions", type="primary", icon=":material/refresh:",
                   on_click=start_quiz)
    cols[1].button("Choose other topics", icon=":material/tune:", on_click=change_topics)


def _verdict(share: float) -> str:
    if share >= 0.8:
        return "Excellent — you know this material well."
    if share >= 0.5:
        return "Good progress. Read the explanations of the ones you missed, then retake."
    return "Worth another look: each missed question below links to the page that explains it."


def review(answers) -> None:
    wrong = [g for g in answers if not g.correct]
    st.subheader("Review")
    if not wrong:
        st.success("No wrong answers to review — well done!")
        return
    st.markdown(f"{len(wrong)} answer(s) to look at again:")
    for g in wrong:
        with st.container(border=True):
            st.markdown(f"**{g.question.prompt}**")
            given = g.given or "(no answer)"
            st.markdown(f":red[Your answer: {given}]  \n:green[Correct answer: **{g.expected}**]")
            st.caption(g.question.explanation)
            learn_more(g.question.page)


def downloads(answers, seed: int) -> None:
    cols = st.columns(2)
    cols[0].download_button("Download results (CSV)", results_csv(answers), "quiz_results.csv",
                            mime="text/csv", icon=":material/download:")
    cols[1].download_button("Download results (JSON)", results_json(BANK, answers, seed),
                            "quiz_results.json", mime="application/json", icon=":material/download:")


st.title("Quiz")
quiz_keep.load_url(LENGTHS)  # ?topics=...&n=...: a shared link sets the quiz up
if state["quiz_current"] is None:
    setup_view()
elif state["quiz_finished"]:
    results_view()
else:
    question_view()
quiz_keep.save_url()
