"""Regenerate the semantic-search lab's data: an IT help-desk knowledge base and its questions.

Writes ``assets/data/retrieval_corpus.csv`` (``passage``: 1,200 short help-desk answers),
``retrieval_train.csv`` and ``retrieval_test.csv`` (``query,passage``: one relevant passage
per question).

How it is made. A made-up company names its internal services with code names (Kestrel,
Marlin, Quill, ...). Every passage is one known problem: ``<code name> <symptom> <trigger>``,
written in the help desk's words, plus a fix. Every question is how a user would ask about
it: the service in plain words ("the file sync app"), the symptom and the trigger
paraphrased ("keeps freezing", "since last night's update"). Each (symptom, trigger) pair
occurs for all 20 services, so a model that does not know which code name is which service
can match the symptom and the trigger but must guess among 20 near-identical passages: the
base all-MiniLM-L6-v2 retrieves clearly imperfectly. Fine-tuning on the training questions
teaches the code names and the help desk's wording, which carries over to held-out
questions about other passages.

Honest held-out split: test questions ask about passages that no training question asks
about, and use question frames never used in training. Deterministic (fixed seed):
``python scripts/make_retrieval.py`` rewrites exactly the shipped files.
"""
from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

SEED = 20261201  # fixed seed: the shipped CSVs are exactly what this script writes
N_TRAIN = 400  # training questions (one per passage)
N_TEST = 120  # held-out questions, about other passages
OUT_DIR = Path(__file__).resolve().parent.parent / "assets" / "data"

# code name -> how users call that service (the "domain words" the base model cannot know)
SERVICES = {
    "Kestrel": ("the file sync app", "file syncing", "the folder sync tool"),
    "Marlin": ("the VPN", "remote access", "the VPN client"),
    "Quill": ("the expense tool", "expense claims", "the receipts app"),
    "Tern": ("printing", "the office printers", "the print queue"),
    "Osprey": ("email", "the mail app", "my inbox"),
    "Heron": ("the video call app", "video meetings", "the meeting software"),
    "Lynx": ("the password manager", "the password vault", "saved passwords"),
    "Puffin": ("the wiki", "the team wiki", "internal docs"),
    "Falcon": ("the HR portal", "the holiday request site", "the leave portal"),
    "Gannet": ("the chat app", "team chat", "instant messaging"),
    "Sable": ("the laptop backup", "backups", "the backup agent"),
    "Wren": ("the calendar", "meeting invites", "the shared calendar"),
    "Ibis": ("the ticket system", "support tickets", "the helpdesk portal"),
    "Plover": ("the phone app", "the softphone", "desk phone calls"),
    "Corvid": ("the code repository", "git hosting", "the source server"),
    "Egret": ("the timesheet tool", "timesheets", "logging my hours"),
    "Merlin": ("the badge reader", "door access", "my building pass"),
    "Shrike": ("the antivirus", "the virus scanner", "malware protection"),
    "Avocet": ("the shared drive", "network folders", "the team drive"),
    "Rook": ("the single sign-on", "the company login", "SSO"),
}
# help-desk wording -> how users say it
SYMPTOMS = {
    "stops responding": ("keeps freezing", "hangs", "is stuck and won't react"),
    "rejects valid credentials": ("says my password is wrong", "won't let me log in", "refuses my login"),
    "runs slowly": ("is painfully slow", "takes forever", "is really sluggish"),
    "discards unsaved changes": ("loses my edits", "throws away what I typed", "forgets my changes"),
    "exits at launch": ("closes as soon as I open it", "crashes on startup", "quits right away"),
    "renders a blank window": ("shows an empty white screen", "is just a blank page", "displays nothing"),
    "sends duplicate alerts": ("notifies me twice", "pings me double", "repeats every notification"),
    "reports the server unreachable": ("says it can't connect", "claims it is offline", "can't reach anything"),
    "drains the battery": ("eats my battery", "kills my battery", "empties the battery fast"),
    "shows the wrong time zone": ("has the time off by hours", "uses the wrong clock", "shows times hours out"),
}
TRIGGERS = {
    "after the overnight patch": ("since last night's update", "after the update yesterday", "since the new version"),
    "on the guest wireless network": ("on the visitor wifi", "when I use guest wifi", "on the lobby wifi"),
    "with an external display attached": ("when a second monitor is plugged in", "with my extra screen connected",
                                          "whenever I dock to a monitor"),
    "following a credential reset": ("since I changed my password", "after resetting my password",
                                     "ever since my password change"),
    "while tethered to a handset": ("when I use my phone's hotspot", "on mobile data from my phone",
                                    "while hotspotting"),
    "on a hot-desk workstation": ("on the shared desks", "at a hot desk", "on a borrowed office PC"),
}
FIXES = (  # short on purpose: every passage is embedded twice per run on a 2-core CPU
    "Fix: clear its cache.",
    "Fix: reinstall it.",
    "Fix: restart the agent.",
    "Fix: reissue the profile.",
    "Fix: update to the latest release.",
    "Fix: delete the saved token.",
    "Fix: use the fallback region.",
    "Fix: turn off low-power mode.",
)
TRAIN_FRAMES = (
    "{u} {p} {t}",
    "why {u} {p} {t}?",
    "{t}, {u} {p}",
    "help: {u} {p} {t}",
    "{u} {p} {t}. what do I do?",
)
TEST_FRAMES = (  # never used by a training question
    "any idea why {u} {p} {t}?",
    "{t} {u} {p}, how do I fix it",
    "problem - {u} {p} {t}",
)


Problem = tuple[str, str, str]  # (service, symptom, trigger) in the help desk's words


def passages(rng: random.Random) -> dict[Problem, str]:
    """Every (service, symptom, trigger) once, with a fix: 20 × 10 × 6 = 1,200 passages."""
    out = {}
    for service, symptom, trigger in itertools.product(SERVICES, SYMPTOMS, TRIGGERS):
        fix = rng.choice(FIXES)
        out[(service, symptom, trigger)] = f"{service} {symptom} {trigger}. {fix}"
    return out


def question(rng: random.Random, problem: Problem, frames: tuple[str, ...]) -> str:
    """A user's question about ``problem``: its parts in plain words, in one of ``frames``."""
    service, symptom, trigger = problem
    user = rng.choice(SERVICES[service])
    text = rng.choice(frames).format(u=user, p=rng.choice(SYMPTOMS[symptom]), t=rng.choice(TRIGGERS[trigger]))
    return text[0].upper() + text[1:]


def _write(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(SEED)
    corpus = passages(rng)
    asked = rng.sample(list(corpus), N_TRAIN + N_TEST)  # distinct passages: test ones are never asked in training
    train = [(question(rng, p, TRAIN_FRAMES), corpus[p]) for p in asked[:N_TRAIN]]
    test = [(question(rng, p, TEST_FRAMES), corpus[p]) for p in asked[N_TRAIN:]]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    _write(OUT_DIR / "retrieval_corpus.csv", ["passage"], [(p,) for p in corpus.values()])
    _write(OUT_DIR / "retrieval_train.csv", ["query", "passage"], train)
    _write(OUT_DIR / "retrieval_test.csv", ["query", "passage"], test)
    print(f"wrote {len(corpus)} passages, {len(train)} train and {len(test)} test questions to {OUT_DIR}")


if __name__ == "__main__":
    main()
