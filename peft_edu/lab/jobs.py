"""Background training jobs for a multi-user app: a thread per run, a stop event, a queue.

``submit(cfg, base, tokenizer, train_set, test_set, owner=owner)`` returns a ``Job`` at once;
its thread waits for a free slot, runs ``peft_edu.lab.train.train`` (which trains its own copy
of ``base``) and appends a ``StepMetrics`` per step to ``job.metrics``. A page reads
``job.view()`` from a timer (``st.fragment(run_every=...)``) and never trains itself.

- At most ``max_runs()`` jobs train at once in the whole process (env ``PEFT_LAB_MAX_RUNS``;
  default 1 on a CPU, 2 on a GPU); the others wait, first come first served, and know their
  place (``job.queue_position()``).
- ``job.stop()`` stops a running job after its current step, or cancels a queued one.
- Memory: each owner keeps the trained models of its newest ``keep_models()`` finished jobs
  (env ``PEFT_LAB_KEEP_MODELS``, default 4); older results keep their metrics, ``model=None``.
- Other kinds of runs (an embedding fine-tune, a distributed run) share the same queue and
  limits through ``submit_task(task, cfg, owner=...)``: ``task(on_metrics, should_stop,
  on_start)`` does the work in the job's thread and returns a result with ``status`` and
  ``message``; each metrics record it reports needs ``step``, ``steps`` and ``eta_s``.
- ``on_running(job)``, when given, runs in the job's thread when it leaves the queue and starts.
- ``on_done(job)``, when given, runs in the job's thread once the job has ended (done, stopped,
  failed or cancelled), while its model is still held and before ``job.wait()`` returns: the
  lab keeps the run's results there. Its failure never fails the job (``job.save_problem``).
- Owners: pass an ``Owner`` kept in the session's state. When the session ends and the
  owner is garbage-collected, its jobs stop and leave the registry; ``stop_owner(owner_id)``
  and ``stop_orphans(alive_ids)`` do the same explicitly.
- Fair shares (``peft_edu.lab.limits``): a run queued with ``learner=`` counts against that
  learner's limits (runs at a time, race size, steps; ``LimitError`` at submit) and is stopped
  once the learner has had no open tab for a while (``peft_edu.lab.absence``). ``view().wait_s``
  is the expected wait of a queued run, from the measured seconds per step of earlier runs.
"""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import itertools
import os
import threading
import time
import uuid
import weakref
from dataclasses import dataclass

import torch

from peft_edu.lab import limits as rules
from peft_edu.lab.limits import LimitError, Limits  # noqa: F401  (LimitError: for the pages)
from peft_edu.lab.run_config import RunConfig, label
from peft_edu.lab.train import StepMetrics, TrainResult, train, training_threads
from peft_edu.lab.priority import class_browsing, lower_this_thread

QUEUED, RUNNING = "queued", "running"
FINISHED = ("done", "stopped", "diverged", "oom", "failed", "cancelled")  # a job ends in one of these


class Owner:
    """A token for one browser session; keep it in session state. Dropping it stops its jobs."""

    def __init__(self, owner_id: str | None = None) -> None:
        self.id = owner_id or uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of a job for drawing (safe to read while the job runs)."""

    id: str
    owner: str
    label: str  # "LoRA r=8", or what the page passed
    cfg: RunConfig
    status: str  # "queued" | "running" | one of FINISHED
    message: str  # why it stopped, for the learner ("" while fine)
    queue_position: int | None  # 1 = next to start; None unless queued
    metrics: tuple[StepMetrics, ...]  # every step so far
    progress: float  # 0..1 of the planned steps
    eta_s: float | None  # seconds left (None while queued)
    result: TrainResult | None  # set once finished (holds the trained model)
    trainable: int | None  # trainable parameters of the run's model, once it is built
    total: int | None  # all parameters of the run's model, once it is built
    device: str | None  # "cpu" or "cuda", once the run has started
    wait_s: float | None = None  # expected seconds until it starts (None unless queued)
    learner: str | None = None  # the learner whose limits it counts against, if any


class Job:
    """One training run in its own thread. Create with ``submit``."""

    def __init__(self, cfg, data: tuple, owner_id: str, label_text: str, task=None, on_done=None,
                 on_running=None, learner: str | None = None, race: str | None = None) -> None:
        self.id = f"job-{next(_IDS)}"
        self.owner, self.cfg, self.label = owner_id, cfg, label_text
        self.learner, self.race = learner, race  # whose limits it counts against; its race, if any
        self.status, self.message = QUEUED, ""
        self.metrics: list[StepMetrics] = []  # appended by the job's thread only
        self.result: TrainResult | None = None
        self.trainable: int | None = None  # set by train() once the model is built
        self.total: int | None = None
        self.device: str | None = None
        self.created = time.time()
        self.started_at: float | None = None  # time.monotonic() when it left the queue
        self._stop_reason = ""  # said after the run's own message when something else stopped it
        self._data = data  # (base, tokenizer, train_set, test_set, device, general_texts)
        self._task = task  # submit_task's work, or None for the lab's train()
        self._on_done = on_done  # called once in this thread when the job has ended
        self._on_running = on_running  # called in this thread when the job starts training
        self.save_problem = ""  # why on_done failed, if it did
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.id, daemon=True)

    # -- control
    def stop(self, reason: str = "") -> None:
        """Ask the job to stop (after its current step) or, while queued, cancel it; ``reason``
        (for the learner) is added to its message."""
        self._stop_reason = self._stop_reason or reason
        self._stop.set()
        with _POOL:
            _POOL.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (True) or ``timeout`` seconds passed (False)."""
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def stopping(self) -> bool:
        """Stop was asked for: a queued job leaves at once, a running one after its step."""
        return self._stop.is_set()

    def queue_position(self) -> int | None:
        """1-based place among waiting jobs (1 starts next), or None when not queued."""
        with _POOL:
            return _WAITING.index(self) + 1 if self in _WAITING else None

    def view(self) -> JobView:
        """A snapshot for the page to draw."""
        metrics = tuple(self.metrics)  # list() of an appended-to list is safe under the GIL
        last = metrics[-1] if metrics else None
        progress = 1.0 if self.status == "done" else (last.step / last.steps if last else 0.0)
        eta = None if self.status == QUEUED else (last.eta_s if last and self.status == RUNNING else 0.0)
        return JobView(self.id, self.owner, self.label, self.cfg, self.status, self.message,
                       self.queue_position(), metrics, progress, eta, self.result, self.trainable,
                       self.total, self.device, expected_wait_s(self), self.learner)

    # -- the thread
    def _run(self) -> None:
        try:
            if not _acquire(self):
                self.status = "cancelled"
                self.message = f"Cancelled before it started. {self._stop_reason}".strip()
                return
            try:
                self.status, self.started_at = RUNNING, time.monotonic()
                if self._on_running is not None:
                    self._on_running(self)
                self._train()
                if self.status == "stopped":
                    self.message = f"{self.message} {self._stop_reason}".strip()
                self._ended()  # still holding the slot: the saving work counts as the run's
            finally:
                _release(self)
        except Exception as err:  # noqa: BLE001 - a failed run must never kill the app
            self.status, self.message = "failed", f"The run failed: {type(err).__name__}: {err}"
        finally:
            self._ended()
            _measured(self)
            self._data = self._task = None  # let go of the base model reference
            self._finished.set()
            release_old_models(self.owner)
            give_back_memory()

    def _ended(self) -> None:
        """Call ``on_done`` once, whatever the job ended in."""
        hook, self._on_done = self._on_done, None
        if hook is None:
            return
        try:
            hook(self)
        except Exception as err:  # noqa: BLE001 - keeping the results must not fail the run
            self.save_problem = f"{type(err).__name__}: {err}"

    def _started(self, trainable: int, total: int, device: str) -> None:
        self.trainable, self.total, self.device = trainable, total, device

    def _train(self) -> None:
        lower_this_thread()  # page runs first: this thread and the torch workers it starts (lab/priority.py)
        # share the cores among the slots; one core fewer while a class is browsing (lab/priority.py)
        torch.set_num_threads(training_threads(max_runs(), spare_core=class_browsing()))
        if self._task is not None:
            result = self._task(on_metrics=self.metrics.append, should_stop=self._stop.is_set,
                                on_start=self._started)
            self.result, self.message, self.status = result, result.message, result.status
            return
        base, tokenizer, train_set, test_set, device, general_texts = self._data
        result = train(self.cfg, base, tokenizer, train_set, test_set, on_metrics=self.metrics.append,
                       should_stop=self._stop.is_set, device=device, on_start=self._started,
                       general_texts=general_texts)
        self.result, self.message = result, result.message
        self.status = result.status


# ---------------------------------------------------------------- the process-wide pool
_IDS = itertools.count(1)
_POOL = threading.Condition()  # guards _WAITING, _RUNNING_JOBS and _JOBS
_WAITING: list[Job] = []  # queued jobs, first = next
_RUNNING_JOBS: set[Job] = set()
_JOBS: dict[str, Job] = {}  # every job not yet forgotten, by id
_WATCHED: weakref.WeakSet = weakref.WeakSet()  # owners with a finalizer already
_MAX_RUNS: int | None = None  # set_max_runs() override (tests, admin); None = environment/default
_LIMITS: Limits | None = None  # set_limits() override (tests, admin); None = environment/default


def keep_models() -> int:
    """Trained models kept per owner (env PEFT_LAB_KEEP_MODELS, default 4). A kept model holds
    only the tensors its run changed (``train.share_unchanged``): ~0.1-1 MB for an adapter, the
    whole ~90 MB MiniLM copy for a full fine-tune."""
    raw = os.environ.get("PEFT_LAB_KEEP_MODELS", "").strip()
    return int(raw) if raw.isdigit() else 4


def release_old_models(owner_id: str) -> None:
    """Keep the trained models of the owner's newest ``keep_models()`` finished jobs; older
    results keep their metrics and numbers but ``result.model`` becomes None."""
    with _POOL:
        done = [j for j in _JOBS.values() if j.owner == owner_id and j.finished
                and getattr(j.result, "model", None) is not None]  # a task's result may hold none
    for job in done[: max(0, len(done) - keep_models())]:  # _JOBS keeps submission order
        # a new result object: a page that holds the old one (from view()) keeps its model
        job.result = dataclasses.replace(job.result, model=None)


def max_runs() -> int:
    """Concurrent runs allowed: ``set_max_runs``, else env PEFT_LAB_MAX_RUNS, else 1 (CPU) / 2 (GPU)."""
    if _MAX_RUNS is not None:
        return _MAX_RUNS
    raw = os.environ.get("PEFT_LAB_MAX_RUNS", "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    return 2 if torch.cuda.is_available() else 1


def set_max_runs(n: int | None) -> None:
    """Override the limit for this process (None returns to the environment/default)."""
    global _MAX_RUNS
    if n is not None and n < 1:
        raise ValueError(f"max runs must be >= 1, got {n}")
    with _POOL:
        _MAX_RUNS = n
        _POOL.notify_all()


def limits() -> Limits:
    """The per-learner limits in force: ``set_limits``, else the environment (``limits.ENV``)."""
    return _LIMITS if _LIMITS is not None else rules.from_env()


def set_limits(value: Limits | None) -> None:
    """Override the limits for this process (None returns to the environment/default)."""
    global _LIMITS
    _LIMITS = value


def _acquire(job: Job) -> bool:
    """Wait until ``job`` is first in line and a slot is free; False if it was stopped first."""
    with _POOL:
        while not job._stop.is_set():
            if _WAITING and _WAITING[0] is job and len(_RUNNING_JOBS) < max_runs():
                _WAITING.pop(0)
                _RUNNING_JOBS.add(job)
                return True
            _POOL.wait(timeout=1.0)
        if job in _WAITING:
            _WAITING.remove(job)
        _POOL.notify_all()  # the jobs behind it move up
        return False


def _release(job: Job) -> None:
    with _POOL:
        _RUNNING_JOBS.discard(job)
        _POOL.notify_all()


# ---------------------------------------------------------------- public API
def submit(cfg: RunConfig, base, tokenizer, train_set, test_set, *, owner: Owner | str = "",
           label_text: str | None = None, device: torch.device | str | None = None, on_done=None,
           on_running=None, learner: str | None = None, race: str | None = None,
           general_texts: tuple[str, ...] = ()) -> Job:
    """Queue a run and start its thread; returns at once. ``base`` is copied, never changed.

    With ``learner``, the run counts against that learner's limits (``LimitError`` if it would
    break one); ``race`` groups the runs of one race into one entry. Without, no limit applies
    (the shared baseline, a notebook). ``general_texts``: measure the run's encoder drift on
    them when it ends (``train``'s argument)."""
    cfg.check()  # a bad config fails here, in the page, with a clear ValueError
    job = Job(cfg, (base, tokenizer, train_set, test_set, device, tuple(general_texts)), _owner_id(owner),
              label_text or default_label(cfg), on_done=on_done, on_running=on_running,
              learner=learner, race=race)
    return _enqueue(job, owner)


def submit_task(task, cfg, *, owner: Owner | str = "", label_text: str = "", learner: str | None = None,
                race: str | None = None) -> Job:
    """Queue any run in the lab's queue (same slots, Stop, limits and owner clean-up); returns at once.

    ``task(on_metrics, should_stop, on_start)`` runs in the job's thread; ``cfg`` is the run's
    settings as the page shows them (checked here if it has a ``check()``; its ``steps``, if
    any, count against ``max_steps``)."""
    if hasattr(cfg, "check"):
        cfg.check()
    job = Job(cfg, (), _owner_id(owner), label_text or type(cfg).__name__, task, learner=learner, race=race)
    return _enqueue(job, owner)


def check_entry(learner: str, *, steps: int | None, runs: int = 1, race: str | None = None) -> None:
    """Raise ``LimitError`` unless ``learner`` may queue ``runs`` more runs of ``steps`` steps now:
    as a new entry, or joining ``race`` if that race has runs already. A page checks a whole race
    with this before it queues the first of its runs; ``submit`` checks every run again."""
    rule = limits()
    rules.check_steps(rule, steps)
    with _POOL:
        mine = [j for j in _JOBS.values() if j.learner == learner]
        in_race = [j for j in mine if race is not None and j.race == race]
        if in_race:
            rules.check_race(rule, len(in_race) + runs)
            return
        rules.check_race(rule, runs)
        queued = {j: i + 1 for i, j in enumerate(_WAITING)}
        active = [rules.Entry(j.label, j.race, queued.get(j)) for j in mine
                  if not j.finished and not j.stopping]
        rules.check_new_entry(rule, active)


def _owner_id(owner: Owner | str) -> str:
    return owner.id if isinstance(owner, Owner) else str(owner)


def _enqueue(job: Job, owner: Owner | str) -> Job:
    with _POOL:  # check and queue at once: two tabs of one learner pressing Start together
        if job.learner is not None:
            check_entry(job.learner, steps=getattr(job.cfg, "steps", None), race=job.race)
        _JOBS[job.id] = job
        _WAITING.append(job)
    if isinstance(owner, Owner) and owner not in _WATCHED:
        _WATCHED.add(owner)
        weakref.finalize(owner, stop_owner, job.owner, True)  # the session is gone: stop, forget
    job._thread.start()
    return job


def default_label(cfg: RunConfig) -> str:
    """'LoRA r=8', 'Prompt tuning n_tokens=20', 'Head only (baseline)'."""
    knobs = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in cfg.knobs().items())
    return f"{label(cfg.method)} {knobs}".strip()


def get(job_id: str) -> Job | None:
    with _POOL:
        return _JOBS.get(job_id)


def jobs_of(owner_id: str) -> list[Job]:
    """The owner's jobs, oldest first."""
    with _POOL:
        return [j for j in _JOBS.values() if j.owner == owner_id]


def active_jobs() -> list[Job]:
    """Running jobs, then queued ones in queue order (across all owners)."""
    with _POOL:
        return [*_RUNNING_JOBS, *_WAITING]


def give_back_memory() -> None:
    """Collect garbage and return freed heap pages to the OS (glibc's malloc_trim).

    A trained model copy is ~90 MB of many tensors; after it is freed, glibc keeps the pages
    in the process unless asked, and a server that a class used all day would look like it
    leaks. No-op where glibc is absent."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def stop_owner(owner_id: str, forget: bool = False) -> int:
    """Stop every job of ``owner_id`` (a closed session); ``forget`` also drops them. Returns how many."""
    with _POOL:
        mine = [j for j in _JOBS.values() if j.owner == owner_id]
        if forget:
            for j in mine:
                _JOBS.pop(j.id, None)
    for j in mine:
        j.stop()
    if forget and mine:
        timer = threading.Timer(1.0, give_back_memory)  # after the session's state is gone
        timer.daemon = True
        timer.start()
    return len(mine)


def stop_orphans(alive_owner_ids) -> int:
    """Stop and forget the jobs of owners not in ``alive_owner_ids`` (e.g. the live sessions)."""
    alive = set(alive_owner_ids)
    with _POOL:
        gone = {j.owner for j in _JOBS.values() if j.owner not in alive}
    return sum(stop_owner(o, forget=True) for o in gone)


def forget(job: Job) -> None:
    """Stop ``job`` and drop it from the registry (frees its model once the page lets go too)."""
    job.stop()
    with _POOL:
        _JOBS.pop(job.id, None)


# ---------------------------------------------------------------- the expected wait
DEFAULT_STEP_S = 0.2  # seconds per step before any run has ended (a lab LoRA step on 2 CPU cores)
_PER_STEP: dict = {}  # kind of run (or ANY) -> wall seconds per step of the last one that ended
ANY = "any"


def _kind(job: Job) -> tuple[str, str]:
    """Runs whose steps cost alike: the lab's LoRA, the search page's LoRA, a distributed run."""
    return type(job.cfg).__name__, str(getattr(job.cfg, "method", ""))


def _planned_steps(job: Job) -> int:
    steps = getattr(job.cfg, "steps", None)
    return steps if isinstance(steps, int) and steps > 0 else 1  # a run with no steps: one "step"


def _measured(job: Job) -> None:
    """Keep the wall seconds per step of a run that has ended: copying the model, the steps,
    the evaluations and the saving, all of which hold the slot."""
    done = job.metrics[-1].step if job.metrics else 0
    if job.started_at is None or done < 1:
        return
    per_step = (time.monotonic() - job.started_at) / done
    with _POOL:
        _PER_STEP[_kind(job)] = _PER_STEP[ANY] = per_step


def seconds_per_step(job: Job) -> float:
    """The measured seconds per step of the last run of this kind that ended, else of any, else
    ``DEFAULT_STEP_S``."""
    with _POOL:
        return _PER_STEP.get(_kind(job), _PER_STEP.get(ANY, DEFAULT_STEP_S))


def _left_s(job: Job) -> float:
    """Seconds a running job has left: its own ETA once it reports one, else its planned steps."""
    if job.stopping:
        return seconds_per_step(job)  # it ends after its current step
    last = job.metrics[-1] if job.metrics else None
    return last.eta_s if last is not None else _planned_steps(job) * seconds_per_step(job)


def _duration_s(job: Job) -> float:
    """Expected seconds of a queued job once it starts (a cancelled one leaves at once)."""
    return 0.0 if job.stopping else _planned_steps(job) * seconds_per_step(job)


def expected_wait_s(job: Job) -> float | None:
    """Expected seconds until a queued ``job`` starts (None unless it is queued): the running
    jobs' time left and the expected durations of the jobs ahead, over ``max_runs()`` slots."""
    with _POOL:
        if job not in _WAITING:
            return None
        running, ahead = list(_RUNNING_JOBS), _WAITING[: _WAITING.index(job)]
    return rules.expected_wait([_left_s(j) for j in running], [_duration_s(j) for j in ahead], max_runs())


def queue() -> list[JobView]:
    """Views of the running jobs, then the queued ones in queue order (the teacher's queue)."""
    return [job.view() for job in active_jobs()]

