"""The teacher's view of the class: who is active, quiz scores per learner and per topic, the
questions most often missed, every lab run, the training queue, CSV exports with names and times.

Behind ``PEFT_LAB_TEACHER_PASSWORD`` (compared in constant time); without it the page says how
to enable it and shows nothing. UI only: the numbers come from ``peft_edu.store.teacher``.
"""
import time

import streamlit as st

from ui import learner
from ui.lab import fair
from ui.state import init_state
from peft_edu.quiz import default_bank
from peft_edu.store import teacher

init_state()
state = st.session_state
st.title("Teacher: your class")

if not teacher.password_set():
    st.info("The teacher page is switched off. To switch it on, start the app with a password in "
            f"`{teacher.PASSWORD_ENV}`, for example\n\n"
            f"`{teacher.PASSWORD_ENV}='a long secret' streamlit run app.py`", icon=":material/lock:")
    st.stop()


def _log_in() -> None:
    if teacher.password_ok(state.get("teacher_password_w", "")):
        state["teacher_ok"] = True
        state["teacher_password_w"] = ""
    else:
        time.sleep(1.0)  # a wrong password costs a second: guessing is slow
        state["teacher_failed"] = True


if not state["teacher_ok"]:
    st.text_input("Teacher password", type="password", key="teacher_password_w", on_change=_log_in)
    st.button("Open the class view", type="primary", on_click=_log_in, icon=":material/lock_open:")
    if state.pop("teacher_failed", False):
        st.error("That is not the teacher password.", icon=":material/error:")
    st.stop()

store = learner.store()
bank = default_bank()
prompts = {q.id: q.prompt for q in bank.questions} | {t.id: t.prompt for t in bank.templates}


def _prompt(question_id: str) -> str:
    text = prompts.get(question_id) or prompts.get(question_id.split(":")[0], question_id)
    return text if len(text) <= 120 else text[:117] + "…"


st.button("Log out", on_click=lambda: state.update(teacher_ok=False), icon=":material/logout:")
st.subheader("Active now")
active = teacher.active_learners(store)
st.caption(f"{len(active)} learner(s) seen in the last {teacher.ACTIVE_MINUTES} minutes.")
st.dataframe(active, hide_index=True, key="teacher_active")

st.subheader("Quiz scores")
left, right = st.columns(2)
with left:
    st.markdown("**Per learner**")
    st.dataframe(teacher.learner_scores(store), hide_index=True, key="teacher_scores")
with right:
    st.markdown("**Per learner and topic**")
    rows = [dict(r, topic=bank.topics.get(r["topic"], r["topic"])) for r in teacher.topic_scores(store)]
    st.dataframe(rows, hide_index=True, key="teacher_topics")

st.subheader("Questions most often missed")
missed = [dict(r, question=_prompt(r["question"]), topic=bank.topics.get(r["topic"], r["topic"]))
          for r in teacher.most_missed(store)]
st.dataframe(missed, hide_index=True, key="teacher_missed")

st.subheader("Lab runs")
st.dataframe(teacher.run_rows(store), hide_index=True, key="teacher_runs")
queue = teacher.run_rows(store, live_only=True)
st.caption(f"In the queue or training now: {len(queue)}." if queue else "Nothing is queued or training now.")
fair.render_queue(store)

st.subheader("Export")
stamp = time.strftime("%Y%m%d-%H%M")
cols = st.columns(2)
cols[0].download_button("Quiz answers (CSV)", teacher.answers_csv(store), f"class-answers-{stamp}.csv",
                        mime="text/csv", icon=":material/download:", key="teacher_answers_csv")
cols[1].download_button("Lab runs (CSV)", teacher.runs_csv(store), f"class-runs-{stamp}.csv",
                        mime="text/csv", icon=":material/download:", key="teacher_runs_csv")
