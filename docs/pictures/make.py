"""The README's example pictures, drawn by dreamflow's own picture code (deterministic: the same
files every run). From the repository root: python docs/pictures/make.py"""

from __future__ import annotations

from pathlib import Path

from dreamflow_cli.output.pictures import draw
from dreamflow_cli.output.pictures.plain import png_bytes

HERE = Path(__file__).resolve().parent
# (file, prompt, seed, captions, the scene's text, its caption)
EXAMPLES = [
    ("dragon-forest.png", "a sleepy dragon", 7, False,
     "Deep in the forest, Mia and the little dragon met a fox, and the fox carried a lantern.", ""),
    ("whale-sea.png", "a whale who sings lullabies", 3, False,
     "Far out at sea, under the moon, the whale sang softly while her baby and a dolphin listened.", ""),
    ("teddy-bedroom.png", "a teddy bear who can't sleep", 5, True,
     "In the bedroom, Teddy sat by the candle with a book, and the little girl yawned.",
     "Teddy sat by the candle with a book."),
]

if __name__ == "__main__":
    for name, prompt, seed, captions, scene, caption in EXAMPLES:
        [picture] = draw.draw_story(prompt, "", [scene], [caption], seed, show_captions=captions, child="Mia")
        (HERE / name).write_bytes(png_bytes(picture.image))
        print(HERE / name, picture.shows)
