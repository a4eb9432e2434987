"""The background warm-up (ui/warm.py), run in-process in a thread as the server runs it."""
import threading

from peft_edu.lab.data import BUILTIN_NAME
from peft_edu.models import arch_of


def in_warm_thread(work):
    """``work()`` in a thread with the warm-up's headless script-run context, as ``warm.start`` runs it."""
    from ui import warm

    out: dict = {}

    def run() -> None:
        warm._headless_context()
        try:
            out["value"] = work()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(600)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_the_warm_up_trains_the_labs_shared_baseline_once():
    from ui import warm
    from ui.lab import baseline

    problems = in_warm_thread(warm.warm_lab)
    assert problems == []
    job = baseline.shared_baseline()["job"]
    view = job.view()
    assert view.status == "done" and view.cfg.method == "head_only"
    assert in_warm_thread(lambda: baseline.baseline_accuracy(BUILTIN_NAME)) == view.result.test_accuracy
    assert 0.0 < view.result.test_accuracy <= 1.0
    assert in_warm_thread(baseline.start_baseline) is job  # done: not trained again
    # the kept head-only model holds only its trained head; the frozen encoder is the shared base's
    base, _ = in_warm_thread(lambda: baseline.base_model(2))
    theirs = {t.data_ptr() for t in (*base.parameters(), *base.buffers())}
    model = view.result.model
    own = {t.data_ptr(): t for t in (*model.parameters(), *model.buffers()) if t.data_ptr() not in theirs}
    head = sum(model.get_submodule(name).weight.numel() + model.get_submodule(name).bias.numel()
               for name in arch_of(model).head)
    assert sum(t.numel() for t in own.values()) == head == view.trainable
