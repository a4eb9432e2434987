"""Lab runs kept in the store (``peft_edu.store.runs``): what a run is turned into, and back.

- ``config_doc(cfg)`` / ``config_from(doc)``: a ``RunConfig`` as JSON and back.
- ``marker(store, run_id)``: the ``on_running`` hook of ``jobs.submit`` (queued -> running).
- ``recorder(store, learner_id, run_id, tokenizer, test_set)``: the ``on_done`` hook of
  ``jobs.submit``. In the job's thread it keeps the curves, the results, the confusion matrix
  on the test split and the adapter zip, so nothing depends on the learner's browser.
- ``saved_view(run)``: a kept run as a ``jobs.JobView`` (no model), for the same panels that
  draw live runs.
"""
from __future__ import annotations

import dataclasses
import json

from peft_edu.lab.data import encode_cached
from peft_edu.lab.jobs import JobView
from peft_edu.lab.metrics import StepMetrics, confusion_matrix
from peft_edu.lab.run_config import CHECKPOINT_DROPOUT, HEAD_ONLY, RunConfig
from peft_edu.lab.train import TrainResult
from peft_edu.methods import protocol
from peft_edu.registry import METHODS
from peft_edu.store import Store
from peft_edu.store.runs import SavedRun, finish_run, set_status

RESULT_FIELDS = ("test_accuracy", "trainable", "total", "seconds", "peak_memory_bytes", "device",
                 "train_state_bytes", "memory", "drift")  # a result kept before "drift" existed reads None
KEEPS_MODEL = ("done", "stopped")  # statuses whose model is worth a confusion matrix and an adapter


def config_doc(cfg: RunConfig) -> dict:
    doc = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "config"}
    doc["config"] = dataclasses.asdict(cfg.config) if cfg.config is not None else None
    return json.loads(json.dumps(doc))  # plain JSON types only


def config_from(doc: dict) -> RunConfig | None:
    """The RunConfig of a kept run; None when the method or its fields no longer exist."""
    try:
        fields = {k: v for k, v in doc.items() if k != "config"}
        fields.setdefault("model_dropout", CHECKPOINT_DROPOUT)  # kept before the setting existed: trained at 0.1
        if doc.get("config") is None:
            return RunConfig(**fields, config=None)
        config_type = protocol(doc["method"]).Config
        kinds = {f.name: f.type for f in dataclasses.fields(config_type)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in doc["config"].items() if k in kinds}
        return RunConfig(**fields, config=config_type(**values))
    except (KeyError, TypeError, ValueError, ImportError):
        return None


def no_adapter_reason(method: str) -> str:
    """Why a run of ``method`` has no adapter to download ("" when it has one)."""
    if method == HEAD_ONLY:
        return "A head-only run has no adapter: only the classifier head trained."
    if METHODS[method].family == "baseline":  # full fine-tuning
        return "Full fine-tuning changed every weight: there is no adapter, the whole model is the result."
    return ""


def adapter_note(method: str) -> str:
    """How to load the adapter of a run of ``method``."""
    spec = METHODS.get(method)
    if spec is None or no_adapter_reason(method):
        return ""
    if spec.hf_peft_type:
        return (f"Hugging Face PEFT format ({spec.hf_peft_type}): load it with "
                "`PeftModel.from_pretrained(base_model, 'adapter')` or `peft_edu.load_adapter`.")
    return f"PEFT has no {spec.name}: peft_edu's own documented format; load it with `peft_edu.load_adapter`."


def adapter_zip_for(model, method: str, label_names=()) -> bytes | None:
    """The zip of the run's adapter folder; None when the method has no adapter."""
    if no_adapter_reason(method):
        return None
    from peft_edu.export import adapter_zip  # the export code: only when an adapter is kept

    return adapter_zip(model, "adapter", label_names)


def result_doc(result: TrainResult | None) -> dict:
    if result is None:
        return {}
    return {name: getattr(result, name) for name in RESULT_FIELDS}


def marker(store: Store, run_id: str):
    """``on_running`` for ``jobs.submit``: the kept run is training now (the teacher's queue)."""
    def on_running(job) -> None:
        set_status(store, run_id, "running")
    return on_running


def recorder(store: Store, learner_id: str, run_id: str, tokenizer, test_set):
    """``on_done`` for ``jobs.submit``: keep everything the run produced."""
    def on_done(job) -> None:
        result, confusion, adapter = job.result, None, None
        model = getattr(result, "model", None)
        if model is not None and job.status in KEEPS_MODEL:
            enc = encode_cached(tokenizer, test_set, job.cfg.max_length)
            device = next(model.parameters()).device
            confusion = confusion_matrix(model, enc, len(test_set.label_names), device)
            adapter = adapter_zip_for(model, job.cfg.method, test_set.label_names)
        finish_run(store, learner_id, run_id, status=job.status, message=job.message,
                   curves=[dataclasses.asdict(m) for m in job.metrics], result=result_doc(result),
                   confusion=confusion, adapter=adapter)
    return on_done


def _result(run: SavedRun, metrics: tuple) -> TrainResult | None:
    r = run.result
    if not r:
        return None
    return TrainResult(run.status, run.message, None, list(metrics), r.get("test_accuracy"), r.get("trainable", 0),
                       r.get("total", 0), r.get("seconds", 0.0), r.get("peak_memory_bytes", 0),
                       r.get("device", "cpu"), r.get("train_state_bytes", 0), r.get("memory", {}), r.get("drift"))


def saved_view(run: SavedRun) -> JobView | None:
    """A kept run drawn like a live one (``result.model`` is None); None if it cannot be read."""
    cfg = config_from(run.config)
    if cfg is None:
        return None
    metrics = tuple(StepMetrics(**m) for m in run.curves)
    progress = 1.0 if run.status == "done" else (metrics[-1].step / metrics[-1].steps if metrics else 0.0)
    r = run.result
    return JobView(run.id, "", run.label, cfg, run.status, run.message, None, metrics, progress, 0.0,
                   _result(run, metrics), r.get("trainable"), r.get("total"), r.get("device"))
