"""The batch prompt's order (issue 24): what a batch's stories share comes before what differs, so
the engines, which reuse the longest common token prefix, decode the shared start once per batch."""

from __future__ import annotations

import os

from dreamflow_cli.story.prompt import AGE_BANDS, SYSTEM_PROMPT, build_prompt


def test_stories_of_a_batch_share_the_instructions_before_their_subject_child_and_age():
    a = build_prompt("a sleepy dragon who counts the stars", name="Mia", age=5, max_tokens=256)
    b = build_prompt("a lost kitten finds home", name="Leo", age=6, max_tokens=256, theme="a quiet forest")
    c = build_prompt("a whale who sings lullabies", name=None, age=None, max_tokens=256)  # a plain batch line
    assert a[0] == b[0] == c[0] == SYSTEM_PROMPT
    shared = os.path.commonprefix([a[1], b[1], c[1]])
    style = AGE_BANDS["5-8"].style
    assert shared.startswith(style) and "words in all. End with " in shared  # the band's style and the length
    for user, subject, name in ((a[1], "sleepy dragon", "Mia"), (b[1], "lost kitten", "Leo"), (c[1], "whale", None)):
        assert user.index(subject) > user.index("words in all")  # what differs comes after
        if name:
            assert user.index(f"The main character is a child called {name}.") > user.index(style)


def test_nothing_is_lost_by_the_reordering():
    _, user = build_prompt("a tiny robot", name="Sofia", age=7, max_tokens=256, theme="a workshop",
                           moral="patience", extra=("Pip the owl comes along.",))
    for part in ("Write a bedtime story for a 7-year-old about a tiny robot.", "The main character is a child called "
                 "Sofia.", "The story takes place here: a workshop.", "Gently show this lesson without preaching: "
                 "patience.", "Pip the owl comes along.", AGE_BANDS["5-8"].style, "End with Sofia falling asleep."):
        assert user.count(part) == 1, part
