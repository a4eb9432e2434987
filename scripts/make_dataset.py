"""Regenerate the lab's dataset: "Did City win?" (assets/data/match_results_{train,test}.csv).

Every sentence reports one football match between City and an opponent; the label is
City's result, ``win`` or ``loss``. The task hinges on who did what to whom: "City beat
Rovers" and "Rovers beat City" contain the very same words, so a frozen sentence
embedding (which blurs word order) plus a trained classifier head scores poorly, while
adapting the encoder (LoRA etc.) lets the model read the roles. Voice (active/passive),
verb direction (beat / lost to), clefts and two-clause reports vary the surface form.

Deterministic: ``python scripts/make_dataset.py`` writes the same files every time.
Test sentences use four opponents and two tails never seen in training, so the test
measures reading the sentence, not remembering it.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20240611  # fixed seed: the shipped CSVs are exactly what this script writes
N_TRAIN = 800  # sentences per split, half "win", half "loss"
N_TEST = 240
OUT_DIR = Path(__file__).resolve().parent.parent / "assets" / "data"

HERO = "City"  # the team whose result is the label
TRAIN_OPPONENTS = (
    "Rovers", "United", "Albion", "Wanderers", "Athletic", "Rangers", "Town", "Harriers",
    "Dynamo", "the Tigers", "the Eagles", "the Saints", "the Foxes", "the Owls", "County",
    "Villa",
)
TEST_OPPONENTS = ("Olympic", "the Hornets", "Celtic", "the Pilgrims")  # never in training

# Templates take {w} (the winner) and {l} (the loser); {t} is an optional tail.
WIN_ACTIVE = ("beat", "defeated", "edged", "thrashed", "outplayed", "overcame", "knocked out",
              "stunned", "crushed", "eliminated", "saw off", "got the better of")
WIN_PASSIVE = ("beaten", "defeated", "edged out", "thrashed", "outplayed", "knocked out",
               "stunned", "crushed", "eliminated", "seen off")
LOSS_ACTIVE = ("lost to", "fell to", "went down to", "were no match for", "were swept aside by",
               "slipped to a defeat against")
FRAMES = (
    "{w} {win} {l}{t}.",
    "{l} were {winp} by {w}{t}.",
    "{l} {lose} {w}{t}.",
    "It was {w} who {win} {l}{t}.",
    "It was {l} that {w} {win}{t}.",
    "{w} and {l} met{t}, and {w} won.",
    "{w} and {l} met{t}, and {l} lost.",
    "Against {l}, {w} came out on top{t}.",
    "{w} won against {l}{t}.",
    "Victory went to {w}, not {l}{t}.",
    "{l} could not stop {w}{t}.",
)
TRAIN_TAILS = ("", " on Saturday", " in the cup final", " at home", " last night",
               " after extra time", " in a tight game", " 3-1", " 2-0", " on penalties",
               " in the rain", " away from home")
TEST_TAILS = ("", " on Sunday", " 4-2", " at home", " last night", " in the derby")


def _sentence(rng: random.Random, city_wins: bool, opponents, tails) -> str:
    opponent = rng.choice(opponents)
    winner, loser = (HERO, opponent) if city_wins else (opponent, HERO)
    text = rng.choice(FRAMES).format(
        w=winner, l=loser, t=rng.choice(tails), win=rng.choice(WIN_ACTIVE),
        winp=rng.choice(WIN_PASSIVE), lose=rng.choice(LOSS_ACTIVE),
    )
    return text[0].upper() + text[1:]  # "the Tigers ..." starts a sentence


def _split(rng: random.Random, n: int, opponents, tails, taken: set[str]) -> list[tuple[str, str]]:
    """n unique sentences, alternating labels so the split is exactly balanced."""
    rows: list[tuple[str, str]] = []
    while len(rows) < n:
        city_wins = len(rows) % 2 == 0
        text = _sentence(rng, city_wins, opponents, tails)
        if text not in taken:
            taken.add(text)
            rows.append((text, "win" if city_wins else "loss"))
    rng.shuffle(rows)
    return rows


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(SEED)
    taken: set[str] = set()
    train = _split(rng, N_TRAIN, TRAIN_OPPONENTS, TRAIN_TAILS, taken)
    test = _split(rng, N_TEST, TEST_OPPONENTS, TEST_TAILS, taken)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    _write(OUT_DIR / "match_results_train.csv", train)
    _write(OUT_DIR / "match_results_test.csv", test)
    print(f"wrote {len(train)} train and {len(test)} test sentences to {OUT_DIR}")


if __name__ == "__main__":
    main()
