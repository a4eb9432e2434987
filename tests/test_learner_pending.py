"""A new visitor's first page does not wait for the store (ui/learner.py): the sidebar makes the
learner in memory and a page that needs no store (home) leaves it to a thread once the run is
over; another tab, "Delete my data" and the store all see one learner."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from streamlit.testing.v1 import AppTest

from peft_edu.store import open_store
from tests.conftest import ROOT
from tests.stores import app_store, postgres_server, store_url, written  # noqa: F401  (fixtures)

HOME_FIRST_RUN = """
import json, sys, threading
import ui.learner as learner
from streamlit.testing.v1 import AppTest
seen = {"at_import": "sqlalchemy" in sys.modules, "opened_by": []}
open_store = learner._open_store
def spy():
    seen["opened_by"].append(threading.current_thread().name)
    return open_store()
learner._open_store = spy
at = AppTest.from_file("app.py", default_timeout=240).run()
assert not at.exception, at.exception
seen.update(title=at.title[0].value, code=at.session_state["learner_code"], id=at.session_state["learner"].id,
            url=at.query_params["learner"], opened_in_run=list(seen["opened_by"]))
import time
deadline = time.monotonic() + 60
while learner._pending(seen["id"]) and time.monotonic() < deadline:  # the writer thread, after the run
    time.sleep(0.05)
print("RESULT " + json.dumps(seen))
"""


def test_homes_first_run_never_waits_for_the_store_and_its_new_learner_is_kept_after_it(tmp_path):
    """Home's first run (app, sidebar, page) does not import SQLAlchemy nor open the store; the
    new visitor's code is in the URL at once and the learner is in the store a moment later."""
    env = {"PATH": "/usr/bin:/bin", "PEFT_LAB_DATA": str(tmp_path), "PEFT_LAB_WARM_UP": "0",
           "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", HOME_FIRST_RUN], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert seen["title"] == "PEFT Lab"
    assert not seen["at_import"], seen
    # the store was not opened by the page run, and then opened once, by the writer of pending learners
    assert set(seen["opened_in_run"]) <= {"peft-lab-new-learner"}, seen
    assert seen["opened_by"] == ["peft-lab-new-learner"], seen
    url = seen["url"][-1] if isinstance(seen["url"], list) else seen["url"]
    assert url == seen["code"]  # the new visitor's code is in the URL
    store = open_store(f"sqlite:///{tmp_path / 'peft_lab.sqlite3'}", tmp_path)
    try:
        assert store.find(seen["code"]).id == seen["id"]  # written by that thread
    finally:
        store.close()


def _sidebar_only() -> None:  # a page that needs no store, after the app's sidebar
    from ui import learner

    learner.render_sidebar()


def test_a_page_that_needs_no_store_leaves_its_new_learner_to_be_written_after_the_run(app_store):
    at = AppTest.from_function(_sidebar_only, default_timeout=120).run()
    assert not at.exception, at.exception
    me, code = at.session_state["learner"], at.session_state["learner_code"]
    assert at.query_params["learner"] in (code, [code])
    assert written(app_store.find, code).id == me.id
    at.run()  # the next run knows it is written: the same learner, no "deleted" notice
    assert at.session_state["learner"].id == me.id and not at.sidebar.info


def test_a_second_tab_finds_a_code_made_a_moment_ago(app_store):
    one = AppTest.from_function(_sidebar_only, default_timeout=120).run()
    code = one.session_state["learner_code"]
    other = AppTest.from_function(_sidebar_only, default_timeout=120)
    other.query_params["learner"] = code  # before, or after, the thread wrote it: the same learner
    other.run()
    assert not other.exception, other.exception
    assert other.session_state["learner"].id == one.session_state["learner"].id and not other.sidebar.info


def test_delete_my_data_of_a_learner_not_written_yet_leaves_nothing(app_store):
    from ui import learner

    at = AppTest.from_function(_sidebar_only, default_timeout=120).run()
    me, code = at.session_state["learner"], at.session_state["learner_code"]
    at.sidebar.checkbox(key="learner_delete_confirm").check().run()
    at.sidebar.button(key="learner_delete").click().run()
    assert not at.exception, at.exception
    assert at.session_state["learner"].id != me.id
    time.sleep(1)
    learner._write_pending()  # whatever is still pending: the deleted learner is not among it
    assert app_store.find(code) is None and app_store.learner(me.id) is None


def test_the_resume_link_is_drawn_once_its_expander_is_opened(app_store):
    """The link's code block (st.code: 1.5 MB of the browser's script) is not on the first page;
    opening "Your work is kept" shows it, with this learner's code."""
    at = AppTest.from_function(_sidebar_only, default_timeout=120).run()
    code = at.session_state["learner_code"]
    assert not at.sidebar.code and at.sidebar.expander[0].label == "Your work is kept"
    at.session_state["learner_kept_open"] = True  # what a click on the expander does
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.code[0].value.endswith(f"/?learner={code}")
    at.run()  # it stays open, with the same link
    assert at.sidebar.code[0].value.endswith(f"/?learner={code}")
