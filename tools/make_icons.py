"""Draw the app icons (192, 512 and a maskable 512 px PNG) from the logo's design.

The logo is a ring with a bar (an "1" in an "O": OneCity) on the brand colour. Run
`pip install -e '.[dev]' && python tools/make_icons.py [--color '#0b5cad']` after a
change of brand; the PNGs are committed so a deployment needs no image library.
"""

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parent.parent / "portal" / "static" / "icons"


def draw(size: int, color: str, *, maskable: bool) -> Image.Image:
    scale = 4  # draw large, then shrink: smooth edges without an anti-aliasing library
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        # A maskable icon fills the square; the symbol keeps inside the 80 % safe circle.
        pen.rectangle((0, 0, big, big), fill=color)
        symbol = 0.5
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 14 // 64, fill=color)
        symbol = 0.62
    center = big / 2
    radius = big * symbol / 2
    ring = big * symbol * 0.18
    pen.ellipse(
        (center - radius, center - radius, center + radius, center + radius),
        outline="white",
        width=int(ring),
    )
    bar_w, bar_h = big * symbol * 0.18, big * symbol * 0.62
    pen.rectangle(
        (center - bar_w / 2, center - bar_h / 2, center + bar_w / 2, center + bar_h / 2),
        fill="white",
    )
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--color", default="#0b5cad")
    args = parser.parse_args()
    for name, size, maskable in (
        ("icon-192.png", 192, False),
        ("icon-512.png", 512, False),
        ("icon-maskable-512.png", 512, True),
    ):
        # A flat two-colour drawing loses nothing in a 32-colour palette, and the file is
        # a fifth of the full-colour one: the icons are part of every first visit's bytes.
        icon = draw(size, args.color, maskable=maskable).quantize(32, method=Image.FASTOCTREE)
        icon.save(ICONS / name, optimize=True)
        print(ICONS / name)


if __name__ == "__main__":
    main()
