"""The store against a real SQLite file and a real PostgreSQL server (tests/pg.py): schema by
Alembic, learners found only by their code, answers, kept documents, runs, deletion, the
teacher's queries, 20 writers at once, and a corrupt file."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text, update

from peft_edu.store import CODE, StoreError, open_store, runs, teacher
from peft_edu.store.schema import runs as runs_table
from peft_edu.store.store import ALPHABET, code_hash
from tests.pg import fresh_database
from tests.stores import postgres_server, store_url  # noqa: F401  (fixtures)


@pytest.fixture
def store(store_url, tmp_path):
    s = open_store(store_url, tmp_path / "data")
    yield s
    s.close()


def test_migrations_create_the_schema_once(store, store_url, tmp_path):
    names = set(inspect(store.engine).get_table_names())
    assert {"learners", "answers", "kept", "runs", "alembic_version"} <= names
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    again = open_store(store_url, tmp_path / "data")  # a restart: nothing to do, nothing lost
    assert again.notice == ""
    again.close()


def test_head_revision_is_alembics_newest():
    """The shortcut that skips loading Alembic on a database already at the head (fast cold start)
    names the revision that Alembic itself finds newest in migrations/versions."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from peft_edu.store.engine import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_a_code_finds_its_learner_and_nothing_else(store):
    ann, code = store.new_learner("Ann")
    assert CODE.match(code) and len(code) == 12
    assert store.find(code).id == store.find(code.upper()).id == ann.id and store.find(code).name == "Ann"
    tampered = code[:-1] + next(c for c in ALPHABET if c != code[-1])
    guessed = "".join(ALPHABET[(ALPHABET.index(c) + 7) % len(ALPHABET)] for c in code)
    for wrong in (tampered, guessed, ann.id, code_hash(code), "", code + "x", "' OR 1=1 --"):
        assert store.find(wrong) is None, wrong


def test_another_learner_reads_nothing_of_mine(store):
    ann, ann_code = store.new_learner("Ann")
    bob, _ = store.new_learner("Bob")
    store.record_answer(ann.id, "q1", "lora", True)
    store.keep(ann.id, "quiz", {"seed": 7})
    run_id = runs.new_run_id()
    runs.add_run(store, ann.id, run_id, job_id="", label="LoRA", method="lora", data_name="news", config={})
    runs.finish_run(store, ann.id, run_id, status="done", message="", curves=[], result={}, adapter=b"PK..")
    tampered = store.find(ann_code[:-1] + ("2" if ann_code[-1] != "2" else "3"))
    assert tampered is None
    assert store.progress(bob.id) == {} and store.kept(bob.id, "quiz") is None
    assert runs.runs_of(store, bob.id) == [] and runs.adapter_bytes(store, bob.id, run_id) is None
    assert runs.adapter_bytes(store, ann.id, run_id) == b"PK.."


def test_answers_add_up_to_the_progress_per_topic(store):
    ann, _ = store.new_learner()
    for topic, right in [("lora", True), ("lora", False), ("qlora", True), ("lora", True)]:
        store.record_answer(ann.id, f"{topic}-q", topic, right, given="x", expected="y")
    assert store.progress(ann.id) == {"lora": [3, 2], "qlora": [1, 1]}


def test_kept_documents_replace_and_forget(store):
    ann, _ = store.new_learner()
    store.keep(ann.id, "quiz", {"position": 1})
    store.keep(ann.id, "quiz", {"position": 2, "responses": {"0": [1, 2]}})
    assert store.kept(ann.id, "quiz") == {"position": 2, "responses": {"0": [1, 2]}}
    store.forget(ann.id, "quiz")
    assert store.kept(ann.id, "quiz", "none") == "none"


def test_a_run_from_queue_to_results_and_interrupted_after_a_restart(store, store_url, tmp_path):
    ann, _ = store.new_learner()
    done, live = runs.new_run_id(), runs.new_run_id()
    for run_id in (done, live):
        runs.add_run(store, ann.id, run_id, job_id="job-1", label="LoRA r=8", method="lora", data_name="news",
                     config={"method": "lora", "steps": 3}, label_names=["a", "b"])
    runs.set_status(store, live, "running")
    curves = [{"step": 1, "loss": 0.7, "test_acc": None}, {"step": 2, "loss": 0.5, "test_acc": 0.75}]
    runs.finish_run(store, ann.id, done, status="done", message="", curves=curves,
                    result={"test_accuracy": 0.75, "seconds": 2.5}, confusion=[[3, 1], [0, 4]], adapter=b"zip")
    restarted = open_store(store_url, tmp_path / "data")
    assert runs.interrupt_live(restarted) == 1
    saved = {r.id: r for r in runs.runs_of(restarted, ann.id)}
    assert saved[done].status == "done" and saved[done].curves == curves and saved[done].confusion == [[3, 1], [0, 4]]
    assert saved[done].label_names == ["a", "b"] and saved[done].has_adapter and saved[done].config["steps"] == 3
    assert saved[live].status == "interrupted" and saved[live].message == runs.INTERRUPTED_MESSAGE
    restarted.close()


def test_delete_my_data_removes_everything(store):
    ann, code = store.new_learner("Ann")
    bob, _ = store.new_learner("Bob")
    for learner in (ann, bob):
        store.record_answer(learner.id, "q", "lora", True)
        store.keep(learner.id, "quiz", {})
        run_id = runs.new_run_id()
        runs.add_run(store, learner.id, run_id, job_id="", label="r", method="lora", data_name="d", config={})
        runs.finish_run(store, learner.id, run_id, status="done", message="", curves=[], result={}, adapter=b"z")
    folder = store.learner_folder(ann.id)
    assert folder.exists()
    store.delete_learner(ann.id)
    assert store.find(code) is None and not folder.exists()
    with store.engine.connect() as conn:
        for table, column in (("answers", "learner_id"), ("kept", "learner_id"), ("runs", "learner_id"),
                              ("learners", "id")):
            left = conn.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :i"), {"i": ann.id})
            assert left.scalar() == 0, table
    assert store.progress(bob.id) == {"lora": [1, 1]} and len(runs.runs_of(store, bob.id)) == 1


def test_old_runs_are_cleaned_up_with_their_files(store):
    ann, _ = store.new_learner()
    old, new = runs.new_run_id(), runs.new_run_id()
    for run_id in (old, new):
        runs.add_run(store, ann.id, run_id, job_id="", label="r", method="lora", data_name="d", config={})
        runs.finish_run(store, ann.id, run_id, status="done", message="", curves=[], result={}, adapter=b"z")
    with store.engine.begin() as conn:
        conn.execute(update(runs_table).where(runs_table.c.id == old)
                     .values(created_at=runs_table.c.created_at - timedelta(days=40)))
    assert runs.cleanup(store, max_age_days=30) == 1
    assert [r.id for r in runs.runs_of(store, ann.id)] == [new]
    assert not (store.learner_folder(ann.id) / "adapters" / f"{old}.zip").exists()


def test_learners_idle_past_the_age_limit_go_with_everything_they_kept(store):
    from peft_edu.store.schema import learners as learners_table

    idle, active = store.new_learner("idle")[0], store.new_learner("active")[0]
    for who in (idle, active):
        store.record_answer(who.id, "q", "lora", True)
        store.keep(who.id, "upload", {"name": "mine.csv"})
        runs.add_run(store, who.id, runs.new_run_id(), job_id="", label="r", method="lora", data_name="d", config={})
    with store.engine.begin() as conn:
        conn.execute(update(learners_table).where(learners_table.c.id == idle.id)
                     .values(last_seen=learners_table.c.last_seen - timedelta(days=31)))
    assert runs.forget_idle_learners(store, max_age_days=30) == 1
    assert store.learner(idle.id) is None and store.kept(idle.id, "upload") is None
    assert runs.runs_of(store, idle.id) == [] and store.answer_count(idle.id) == 0
    assert store.kept(active.id, "upload") == {"name": "mine.csv"} and len(runs.runs_of(store, active.id)) == 1


def test_twenty_sessions_writing_at_once_lose_no_answer(store):
    sessions, per_session = 20, 15
    learners = [store.new_learner(f"learner {i}")[0] for i in range(sessions)]
    barrier, errors = threading.Barrier(sessions), []

    def session(i: int) -> None:
        try:
            barrier.wait()
            for k in range(per_session):
                store.record_answer(learners[i].id, f"q{k}", f"topic{k % 3}", k % 2 == 0, given=str(k))
                store.keep(learners[i].id, "quiz", {"position": k})
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(repr(err))

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    for learner in learners:  # every write arrived, each in its own learner's rows
        assert store.answer_count(learner.id) == per_session
        assert sum(a for a, _ in store.progress(learner.id).values()) == per_session
        assert store.kept(learner.id, "quiz") == {"position": per_session - 1}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM answers")).scalar() == sessions * per_session


def test_teacher_views_and_the_password(store, monkeypatch):
    ann, _ = store.new_learner("Ann")
    bob, _ = store.new_learner("=cmd|Bob")
    store.record_answer(ann.id, "lora-1", "lora", False, given="3", expected="4")
    store.record_answer(bob.id, "lora-1", "lora", False)
    store.record_answer(bob.id, "ia3-1", "ia3", True)
    run_id = runs.new_run_id()
    runs.add_run(store, ann.id, run_id, job_id="", label="LoRA r=8", method="lora", data_name="d", config={})
    runs.finish_run(store, ann.id, run_id, status="done", message="", curves=[],
                    result={"test_accuracy": 0.9, "seconds": 12.0})
    assert {r["learner"] for r in teacher.active_learners(store)} == {"Ann", "=cmd|Bob"}
    scores = {r["learner"]: (r["answered"], r["correct"]) for r in teacher.learner_scores(store)}
    assert scores == {"Ann": (1, 0), "=cmd|Bob": (2, 1)}
    assert teacher.most_missed(store)[0] == {"question": "lora-1", "topic": "lora", "asked": 2, "missed": 2}
    assert teacher.run_rows(store)[0]["test accuracy"] == "90.0%"
    csv_text = teacher.answers_csv(store)
    assert "Ann" in csv_text and "'=cmd|Bob" in csv_text and csv_text.count("\n") == 4
    monkeypatch.delenv(teacher.PASSWORD_ENV, raising=False)
    assert not teacher.password_ok("") and not teacher.password_ok("anything")
    monkeypatch.setenv(teacher.PASSWORD_ENV, "s3cret")
    assert teacher.password_ok("s3cret") and not teacher.password_ok("s3cre") and not teacher.password_ok("")


def test_a_corrupt_or_missing_file_gives_a_message_and_a_fresh_store(tmp_path):
    missing = tmp_path / "new" / "folder" / "lab.sqlite3"
    fresh = open_store(f"sqlite:///{missing}", tmp_path)
    assert missing.exists() and fresh.notice == ""
    fresh.close()
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database " * 400)
    repaired = open_store(f"sqlite:///{broken}", tmp_path)
    assert "could not be read" in repaired.notice and "fresh" in repaired.notice
    assert list(tmp_path.glob("broken.sqlite3.unreadable-*"))
    learner, code = repaired.new_learner()
    assert repaired.find(code).id == learner.id


def test_a_plain_postgresql_url_uses_psycopg(postgres_server):  # noqa: F811
    plain = fresh_database(postgres_server).replace("postgresql+psycopg://", "postgresql://")
    store = open_store(plain)
    assert store.engine.dialect.driver == "psycopg" and store.find(store.new_learner()[1]) is not None
    store.close()


def test_an_unreachable_server_is_one_clear_error():
    with pytest.raises(StoreError, match="cannot be used"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(StoreError, match="not a usable database URL"):
        open_store("nosuchdb://x")
