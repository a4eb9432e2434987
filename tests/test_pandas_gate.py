"""pandas (0.5 s to import) stays off a new server's first page, and plotly never meets it half
imported (peft_edu/viz/__init__.py): each check runs in a fresh interpreter, where pandas is not
imported yet."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

GATE_EXCLUDES_THE_IMPORT = """
import sys, threading, time
from peft_edu.viz import load_pandas, pandas_gate
assert "pandas" not in sys.modules
done = threading.Event()
with pandas_gate():  # a figure being built: an import asked for meanwhile waits
    worker = threading.Thread(target=lambda: (load_pandas(), done.set()))
    worker.start()
    time.sleep(0.5)
    assert "pandas" not in sys.modules and not done.is_set()
worker.join(120)
assert done.is_set() and sys.modules["pandas"].DataFrame  # then it runs, to the end
with pandas_gate():  # once pandas is in, the gate is open
    pass
print("OK")
"""

FIGURES_WHILE_PANDAS_LOADS = """
import threading
from peft_edu.viz import load_pandas, pandas_gate
from peft_edu.viz.timeline import methods_timeline
errors = []
def build():
    for _ in range(20):
        try:
            with pandas_gate():
                methods_timeline().to_json()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
threads = [threading.Thread(target=build) for _ in range(2)] + [threading.Thread(target=load_pandas)]
for t in threads: t.start()
for t in threads: t.join(300)
assert not errors, errors
print("OK")
"""



def _python(code: str, tmp_path) -> str:
    env = {"PATH": "/usr/bin:/bin", "PEFT_LAB_DATA": str(tmp_path), "PEFT_LAB_WARM_UP": "0",
           "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_an_import_of_pandas_waits_for_a_figure_in_the_gate(tmp_path):
    assert "OK" in _python(GATE_EXCLUDES_THE_IMPORT, tmp_path)


def test_figures_built_while_pandas_loads_do_not_fail(tmp_path):
    assert "OK" in _python(FIGURES_WHILE_PANDAS_LOADS, tmp_path)


HOME_FIRST_RUN = """
import json, sys, threading
import peft_edu.viz as viz
from streamlit.testing.v1 import AppTest
seen = {"loads": []}
load = viz.load_pandas
def spy():
    if not seen["loads"]:
        seen["in_before_first_load"] = "pandas" in sys.modules
    seen["loads"].append(threading.current_thread().name)
    load()
viz.load_pandas = spy
at = AppTest.from_file("app.py", default_timeout=240).run()
assert not at.exception, at.exception
seen["charts"] = len(at.get("plotly_chart"))
seen["pandas_in_run"] = [name for name in seen["loads"] if not name.startswith("warm")]
at.switch_page("app_pages/calculator.py").run()
assert not at.exception, at.exception
seen["after_calculator"] = "pandas" in sys.modules and viz._pandas_loaded()
print("RESULT " + json.dumps(seen))
"""


def test_homes_first_run_does_not_import_pandas_and_any_other_page_does(tmp_path):
    seen = json.loads(_python(HOME_FIRST_RUN, tmp_path).split("RESULT ", 1)[1])
    assert seen["charts"] == 1  # the timeline is drawn
    assert seen["pandas_in_run"] == [], seen  # only the warm-up's import thread asked, after the run,
    assert seen["in_before_first_load"] is False, seen  # and nothing in home's run had imported pandas
    assert seen["after_calculator"], seen
