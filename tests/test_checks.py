"""The content checks (checks.py), each with sentences the real models wrote.

"SmolLM2" marks text written by SmolLM2-135M-Instruct (Q4_1) through dreamflow's own prompt;
"Gemma" marks text written by gemma-3-270m (Q4_K_M, a base model) given the same request as plain
text, the way dreamflow sent it before story openings. Both were generated on 2026-11-27.
"""

from __future__ import annotations

import pytest

from dreamflow_cli.story.checks import (PENALTIES, check_calm_tone, check_ending, check_instruction_echo, check_names,
                                  check_on_subject, edit_distance, fix_names, gentle_closing, instruction_sentences,
                                  is_comforting, is_distressing, is_echo, judge, near_misspelling, noun_forms,
                                  prompt_subjects, remove_echo, request_words, tone_report)
from dreamflow_cli.story.prompt import AGE_BANDS, build_prompt, ends_sleepily
from dreamflow_cli.story.scenes import split_scenes

SYSTEM, USER = build_prompt("a sleepy dragon who counts the stars", name="Mia", age=5, max_tokens=256)
INSTRUCTIONS = instruction_sentences(SYSTEM, USER, *(band.style for band in AGE_BANDS.values()))


# --- on subject -------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, subjects", [
    ("a sleepy dragon who counts the stars", ("dragon",)),
    ("a lost kitten finds home", ("kitten",)),
    ("a trip to the moon", ("moon",)),
    ("a snowy night in the mountains", ("mountains",)),
    ("a teddy bear picnic", ("teddy", "bear")),
    ("a fox and a badger become friends", ("fox", "badger")),
    ("a tiny robot learning to dance", ("robot",)),
    ("a penguin looking for a warm place to sleep", ("penguin",)),
    ("Tell me a story about a turtle who was always late.", ("turtle",)),
    ("a garden where the flowers whisper", ("garden",)),
])
def test_prompt_subjects_are_the_things_asked_for(prompt, subjects):
    assert prompt_subjects(prompt) == subjects


def test_noun_forms_cover_plurals_possessives_and_a_few_synonyms():
    assert {"dragons", "dragon's"} <= noun_forms("dragon")
    assert {"bunnies", "rabbit", "rabbits"} <= noun_forms("bunny")
    assert "star" in noun_forms("stars") and "wolves" in noun_forms("wolf")


def test_off_subject_story_fails():
    # SmolLM2, asked for "a sleepy dragon who counts the stars" (seed 3): no dragon anywhere.
    text = ("In a cosy little house, Mia was always the quiet one. She had a special place in the family where "
            "everyone would talk to her, and she loved it. Soon, Mia's eyes grew heavy, and she felt tiny.")
    result = check_on_subject(text, "a sleepy dragon who counts the stars")
    assert not result.passed and "dragon" in result.detail
    # Counting stars alone is not the story asked for: the stars describe the dragon.
    assert not check_on_subject("Mia counted the stars.", "a sleepy dragon who counts the stars").passed


def test_gemma_off_and_on_subject():
    # Gemma, "a fox and a badger become friends": neither animal appears.
    text = ("In a cosy little house, Mateo and his little friend are going to be friends. In a warm, cosy house, "
            "we have a cat sleeping in the kitchen.")
    assert not check_on_subject(text, "a fox and a badger become friends").passed
    # Gemma, "a skilful knitter from Scunthorpe": knitting is the subject, in other words.
    assert check_on_subject("Grace has no trouble telling him that she likes to knit.",
                            "a skilful knitter from Scunthorpe").passed


def test_on_subject_story_passes_with_plural_or_synonym():
    # SmolLM2, "a whale who sings lullabies": the whale is there.
    text = "He was a young whale, with long white fins and a tail that looked like a big sail."
    assert check_on_subject(text, "a whale who sings lullabies").passed
    assert check_on_subject("Two rabbits hopped home.", "a bunny who is afraid of the dark").passed
    assert check_on_subject("The mountain was quiet.", "a snowy night in the mountains").passed


# --- instruction echo -------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    # Gemma, continuing dreamflow's instructions as plain text:
    "Never include violence, danger, fear, sadness or harsh words.",
    "Write bedtime stories for 3-4 year olds.",
    "Use short sentences and simple words.",
    "The main character is a child called Mia.",
    "This story is about a dragon.",
    "Write 3 short paragraphs, about 120 words in all.",
    "The story slowly winds down and ends with the hero falling peacefully asleep.",
    "Write short stories about your favourite characters or animals.",
    "Write short sentences, using simple words that make sense to you.",
    "This is an interesting and fun story for children aged 4-6.",
    "This is an easy story for children to read.",
    "You can use this with any age group, but it’s best to start with 8-year-olds.",
    "Use these short stories to teach children about love, friendship and courage.",
    "2-3 minute sentences.",
    "As the sun went down, Noah's story was about a little owl.",
    "This lesson is about a baby panda called Xiao who was very happy because he had his own nursery.",
    "We want our children to feel safe with these characters.",
])
def test_echoed_instructions_are_found(sentence):
    assert is_echo(sentence, INSTRUCTIONS)


@pytest.mark.parametrize("sentence", [
    # SmolLM2 story sentences that share words with the instructions but are story.
    "Soon, Mia's eyes grew heavy, and she felt tiny.",
    "The shelves were filled with all sorts of wonderful books: stories of friendship, bravery, and laughter.",
    "She had always been drawn to stories from far-off worlds, but this time was different.",
    "At last, Mateo snuggled into bed with Kaito.",
    # Gemma story sentences:
    "She loved it when she would sit on one of the trees in the park and watch all the animals.",
    "One quiet evening, Leo sat quietly in front of a fire, eating and drinking.",
])
def test_story_sentences_are_not_echo(sentence):
    assert not is_echo(sentence, INSTRUCTIONS)


def test_echo_sentences_are_removed_when_the_story_stands():
    text = ("One starry night, Mia met a sleepy dragon. Use short sentences and simple words. The dragon "
            "counted the stars one by one, and Mia counted with him.\n\nThey lay on the soft grass and "
            "watched the sky together. The dragon yawned, and Mia smiled at him.")
    result, cleaned = check_instruction_echo(text, INSTRUCTIONS)
    assert not result.passed and result.repairs == 1 and not result.disqualified
    assert "short sentences" not in cleaned and cleaned.startswith("One starry night, Mia met")
    assert "\n\n" in cleaned  # paragraphs kept


def test_a_draft_that_is_mostly_instructions_loses():
    # Gemma: the continuation was the instructions themselves.
    text = ("Write bedtime stories for 3-4 year olds. Use short sentences and simple words. Never include "
            "violence, danger, fear, sadness or harsh words. Mia had a dragon.")
    result, _ = check_instruction_echo(text, INSTRUCTIONS)
    assert result.disqualified


def test_remove_echo_drops_empty_paragraphs():
    cleaned, removed = remove_echo("The main character is Mia.\n\nMia slept.", INSTRUCTIONS)
    assert cleaned == "Mia slept." and removed == ["The main character is Mia."]


# --- calm tone --------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    # SmolLM2:
    "In a cosy little house, Noah's parents had grown distant, and Noah was left to face the harsh "
    "reality of his own mortality.",
    "One starry night, Isla stood at the railings of a distant galaxy, feeling empty and alone.",
    "But one day, something terrible happened.",
    "One day, Leo heard that his mom had lost one of her own cats in a storm.",
    # from the survey of both models:
    "At last, Ada snuggled into bed, and her mom was not there.",
    "Zoe was very angry and very upset.",
    "Her parents argued about money all night.",
    "There was a car accident on the way home.",
    "He was saying his final goodbye to them.",
    # Gemma:
    "Soon, Oliver's eyes grew heavy, and he was struggling to breathe.",
    "The child cried in the evening as he lay on his back and listened to the soft sound of the ocean waves.",
    "She has no friends, and she doesn't know how to dance.",
])
def test_distress_is_found(sentence):
    assert is_distressing(sentence)


@pytest.mark.parametrize("sentence", [
    "At last, Mateo snuggled into bed with Kaito.",  # SmolLM2
    "Before long, Ethan gave a big, sleepy yawn.",  # SmolLM2
    "He was no longer alone in the world.",  # SmolLM2: negated
    "She was not alone, and there was a friendly cloud named Luna who loved her very much.",  # SmolLM2
    "A lost kitten walked home.",  # the prompt's own word, not a loss
    # Gemma:
    "At last, Leo snuggled into bed in a soft and warm blanket.",
    "It was like being at home with your parents all day long: calm and peaceful.",
    "One starry night, Oliver, a young boy from the village of Lymington, was lying on his back.",
    "The next day, Oliver woke up with a song in his heart that could soothe anyone’s pain.",
])
def test_calm_sentences_pass(sentence):
    assert not is_distressing(sentence)


def test_distress_resolved_before_the_end_is_allowed():
    scenes = ("Leo was scared of the dark.", "His dad held his hand and Leo felt safe.", "Leo fell asleep.")
    result, report = check_calm_tone(scenes)
    assert result.passed and len(report.distressing) == 1 and not report.unresolved
    assert is_comforting("His dad held his hand and Leo felt safe.")


def test_unresolved_distress_fails():
    # SmolLM2, "a little owl who cannot sleep": nothing soothes the opening.
    scenes = ("In a cosy little house, Noah's parents had grown distant, and Noah was left to face the harsh "
              "reality of his own mortality.",
              "But as he looked up at the tree outside his window, a wisp of pine smoke danced across its leaves.",
              "Soon, Noah's eyes grew heavy.")
    result, report = check_calm_tone(scenes)
    assert not result.passed and report.unresolved == (scenes[0],)


def test_distress_in_the_last_scene_is_never_resolved():
    scenes = ("Mia played.", "Mia was sad. Then she smiled and hugged her teddy.")
    _, report = check_calm_tone(scenes)
    assert report.in_last_scene == ("Mia was sad.",) and report.unresolved == ("Mia was sad.",)


def test_too_much_distress_fails_even_when_soothed():
    scenes = ("Mia cried. Mom hugged her. Mia was scared. Dad smiled. Mia was angry. They hugged.",
              "The moon rose.", "Mia slept.")
    result, report = check_calm_tone(scenes)
    assert not report.unresolved and not result.passed  # three worries, more than MAX_DISTRESS


def test_tone_report_for_one_scene_checks_the_closing_sentences():
    report = tone_report(("Mia played in the garden. The flowers were pretty. Mia was sad.",))
    assert report.in_last_scene == ("Mia was sad.",)


# --- names ------------------------------------------------------------------------------------

def test_garbled_possessive_of_the_childs_name_is_fixed():
    # The survey: "Zeacos mom" for Zoe's mom.
    fixed, fixes = fix_names("Zeacos mom tucked her in.", "Zoe")
    assert fixed == "Zoe's mom tucked her in." and fixes == [("Zeacos", "Zoe")]


def test_close_misspellings_are_fixed_and_other_names_stay():
    fixed, fixes = fix_names("Max and Mai played. Mia smiled. Zoes cat purred.", "Mia")
    assert fixed == "Max and Mia played. Mia smiled. Zoes cat purred."
    assert fixes == [("Mai", "Mia")]
    assert fix_names("Zoes cat purred.", "Zoe")[0] == "Zoe's cat purred."


def test_other_invented_names_stay_consistent():
    # SmolLM2 invents friends; a second spelling of one is brought back to the first.
    fixed, fixes = fix_names("Jack had a puppy named Lola. Lolla barked.", "Jack")
    assert fixed == "Jack had a puppy named Lola. Lola barked." and fixes == [("Lolla", "Lola")]


def test_near_misspelling_rules():
    assert near_misspelling("Mya", "Mia") and near_misspelling("Olivier", "Oliver")
    assert not near_misspelling("Max", "Mia") and not near_misspelling("Mom", "Mia")
    assert not near_misspelling("Elara", "Ethan")  # SmolLM2's invented friend of Ethan's story
    assert edit_distance("Mai", "Mia") == 1 and edit_distance("Max", "Mia") == 2


def test_check_names_passes_and_reports_repairs():
    result, fixed = check_names("Sofia's tiny robot, a curious little girl named Elara, walked home.", "Sofia")
    assert result.passed and result.repairs == 0 and fixed.startswith("Sofia's")


# --- ending -----------------------------------------------------------------------------------

def test_worried_closing_sentence_gets_the_gentle_closing():
    scenes = ("Ada played in the garden.", "At last, Ada snuggled into bed, and her mom was not there.")
    result, fixed = check_ending(scenes, "Ada")
    assert not result.passed and fixed[-1] == gentle_closing("Ada")
    assert ends_sleepily(fixed[-1]) and not is_distressing(fixed[-1])


def test_good_sleepy_ending_is_kept():
    scenes = ("Mateo lived with a wise old fox named Kaito.", "At last, Mateo snuggled into bed with Kaito.")
    result, fixed = check_ending(scenes, "Mateo")
    assert result.passed and fixed == scenes


def test_ending_that_never_gets_sleepy_is_closed_gently():
    # SmolLM2 once ended on an adventure's next step.
    scenes = ("Priya stepped into the library.", "She knew she had to take the stairs to get to the top.")
    result, fixed = check_ending(scenes, None)
    assert not result.passed and fixed[-1].endswith(gentle_closing(None))
    assert fixed[-1].startswith("She knew she had to take the stairs")


# --- the judge --------------------------------------------------------------------------------

def test_judge_scores_a_clean_draft_100_and_passes_all():
    scenes = ("One starry night, Mia met a sleepy dragon.", "The dragon counted the stars, and Mia smiled.",
              "At last, Mia and the dragon fell asleep.")
    verdict = judge(scenes, prompt="a sleepy dragon who counts the stars", name="Mia", instructions=INSTRUCTIONS)
    assert verdict.score == 100 and verdict.passed_all and not verdict.disqualified
    assert set(verdict.as_dict()["checks"]) == {"on_subject", "no_instruction_echo", "calm_tone", "names", "ending",
                                                "hero_in_every_scene", "hero_kind", "cast",
                                                "reading_level"}


def test_judge_penalises_and_repairs():
    scenes = ("Once upon a time, Mai lived in a cosy house. Use short sentences and simple words. "
              "She had a toy boat and a little garden with yellow flowers.",
              "She watched the moon rise over the quiet hills and hummed a song.",
              "At last, Mia snuggled into bed, and her mom was not there.")
    verdict = judge(scenes, prompt="a sleepy dragon", name="Mia", instructions=INSTRUCTIONS, split=split_scenes)
    expected = 100 - PENALTIES["on_subject"] - PENALTIES["echo_sentence"] - PENALTIES["distress_unresolved"] \
        - PENALTIES["ending_replaced"] - PENALTIES["name_fixed"] - 3 * PENALTIES["hero_missing_scene"]
    assert verdict.score == expected and not verdict.passed_all
    text = "\n\n".join(verdict.scenes)
    assert "Mai " not in text and "short sentences" not in text and text.endswith(gentle_closing("Mia"))
    assert "not there" not in text and len(verdict.scenes) == 3
    assert verdict.as_dict()["checks"]["calm_tone"]["repairs"] == 1


def test_judge_cuts_unresolved_worries_from_the_middle():
    # SmolLM2, "a little owl who cannot sleep" (seed 4): the opening worry is never soothed.
    scenes = ("In a cosy little house, Noah's parents had grown distant, and Noah was left to face the harsh "
              "reality of his own mortality. Noah had a little owl.",
              "The owl hooted softly in the pine tree outside his window.",
              "Soon, Noah and the owl fell asleep.")
    verdict = judge(scenes, prompt="a little owl who cannot sleep", name="Noah", instructions=INSTRUCTIONS,
                    split=split_scenes)
    assert "mortality" not in "\n".join(verdict.scenes) and not verdict.disqualified
    assert verdict.score == 100 - PENALTIES["distress_unresolved"] and verdict.distressing == ()


def test_a_draft_made_of_worries_loses():
    scenes = ("Mia was sad.", "Mia cried.", "Mia was all alone.")
    verdict = judge(scenes, prompt="a bunny", name="Mia", instructions=INSTRUCTIONS, split=split_scenes)
    assert verdict.disqualified


def test_the_prompts_own_words_are_not_echo():
    # Gemma, continuing the story page it was given: it repeats the subject, as a story does.
    own = request_words("a sleepy dragon who counts the stars", "Mia")
    sentence = "Once upon a time, there was a sleepy dragon who counts the stars."
    assert is_echo(sentence, INSTRUCTIONS) and not is_echo(sentence, INSTRUCTIONS, own)
    assert is_echo("Use short sentences and simple words.", INSTRUCTIONS, own)


def test_a_worry_the_model_made_up_is_cut_even_when_soothed():
    # SmolLM2, "a train ride through the stars": a made-up worry, then comfort.
    scenes = ("One starry night, Isla rode the train through the stars. The stars shone bright, making her feel "
              "small and insignificant. Then she smiled and hugged her bear.",
              "The train hummed softly along its silver track.", "Soon, Isla fell asleep.")
    verdict = judge(scenes, prompt="a train ride through the stars", name="Isla", instructions=INSTRUCTIONS,
                    split=split_scenes)
    assert "insignificant" not in "\n".join(verdict.scenes) and verdict.distressing == ()
    # The second scene never names the train: the hero check costs what it costs.
    assert verdict.score == 100 - PENALTIES["distress_resolved"] - PENALTIES["hero_missing_scene"]
    # Asked for: the soothed worry stays.
    scenes = ("Ethan's bunny was afraid of the dark. Ethan hugged him and said he was safe.",
              "They watched the moon together.", "Soon, Ethan and the bunny fell asleep.")
    verdict = judge(scenes, prompt="a bunny who is afraid of the dark", name="Ethan", instructions=INSTRUCTIONS,
                    split=split_scenes)
    assert verdict.distressing == ("Ethan's bunny was afraid of the dark.",)
