"""Threat scenes without their words (story/threats.py), on sentences written for the purpose
(tests/data/threat_sentences.tsv), and the calm-tone rule they follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from dreamflow_cli.story.checks import check_calm_tone, is_distressing, judge
from dreamflow_cli.story.threats import threat_in

SENTENCES = Path(__file__).parent / "data" / "threat_sentences.tsv"


def rows(which: str) -> tuple[list[str], list[str]]:
    threats, harmless = [], []
    for line in SENTENCES.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        group, label, _kind, sentence = line.split("\t")
        if group == which:
            (threats if label == "threat" else harmless).append(sentence)
    return threats, harmless


def rates(which: str, flagged=is_distressing) -> tuple[float, float]:
    threats, harmless = rows(which)
    return (sum(map(flagged, threats)) / len(threats), sum(map(flagged, harmless)) / len(harmless))


def test_the_sentence_set_is_what_readme_says():
    dev, held_out = rows("dev"), rows("held-out")
    assert (len(dev[0]), len(dev[1]), len(held_out[0]), len(held_out[1])) == (186, 187, 20, 20)


def test_threats_the_rules_were_written_against_are_caught_and_look_alikes_pass():
    caught, flagged = rates("dev")
    assert caught >= 0.90 and flagged <= 0.10, (caught, flagged)


def test_sentences_written_after_the_rules_froze():
    # The honest number: phrases generalise only so far (README gives the rates of every round).
    caught, flagged = rates("held-out")
    assert caught >= 0.70 and flagged <= 0.10, (caught, flagged)


@pytest.mark.parametrize("sentence", [
    "A big wolf was eating their dinner.",  # the issue's held-out story
    "They didn't know what to do.",
])
def test_the_issue_s_story_is_caught(sentence):
    assert threat_in(sentence) is not None and is_distressing(sentence)


@pytest.mark.parametrize("sentence", [
    "The wolf yawned and curled up.", "The fox ate a juicy berry and smiled.", "The puppy chased the ball.",
    "The fire crackled in the fireplace and kept them warm.", "A lost kitten walked home.",
    "He was no longer alone in the world.",
])
def test_look_alikes_pass(sentence):
    assert threat_in(sentence) is None and not is_distressing(sentence)


def test_a_soothed_threat_in_the_middle_passes_one_at_bedtime_does_not():
    middle = ("Mia and the bunny walked in the garden.",
              "A big wolf was eating their dinner. Then the wolf said sorry, and everyone hugged and smiled.",
              "At last, Mia and the bunny snuggled into bed and fell asleep.")
    calm, report = check_calm_tone(middle)
    assert calm.passed and report.distressing == ("A big wolf was eating their dinner.",) and not report.unresolved
    at_bedtime = (middle[0], "They shared a warm cup of milk.",
                  "Mia yawned in bed. They didn't know what to do.")
    calm, report = check_calm_tone(at_bedtime)
    assert not calm.passed and report.in_last_scene == ("They didn't know what to do.",)


def test_the_judge_cuts_a_threat_the_child_did_not_ask_for():
    scenes = ("Mia met a sleepy dragon by the pond.",
              "The dragon chased them through the trees. Then they laughed and hugged, safe and warm.",
              "At last, Mia and the dragon fell asleep.")
    verdict = judge(scenes, prompt="a sleepy dragon", name="Mia", instructions=[])
    assert "chased them" not in " ".join(verdict.scenes)
    assert verdict.checks[2].name == "calm_tone" and verdict.checks[2].repairs == 1
