"""Draws the app icons (no third-party artwork): a calendar page with a check mark.

.venv/bin/python manifest/make_icons.py   # writes manifest/color.png and manifest/outline.png
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
ACCENT = (43, 87, 151, 255)  # #2B5797, the manifest's accentColor
WHITE = (255, 255, 255, 255)


def calendar(
    size: int, colour: tuple[int, int, int, int], stroke: int, background: tuple[int, ...] | None
) -> Image.Image:
    scale = 4  # draw large, then downsample for smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), background or (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin, width = big * 0.2, stroke * scale
    top, bottom = big * 0.26, big * 0.82
    draw.rounded_rectangle((margin, top, big - margin, bottom), radius=big * 0.06, outline=colour, width=width)
    draw.line((margin, top + big * 0.14, big - margin, top + big * 0.14), fill=colour, width=width)
    for x in (big * 0.36, big * 0.64):
        draw.line((x, top - big * 0.08, x, top + big * 0.05), fill=colour, width=width)
    draw.line(
        (big * 0.37, big * 0.6, big * 0.47, big * 0.7, big * 0.65, big * 0.5), fill=colour, width=width, joint="curve"
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    calendar(192, WHITE, 7, ACCENT).save(HERE / "color.png")
    outline = calendar(32, WHITE, 2, None)
    # The outline icon is white on transparent only: snap every pixel to white or clear.
    pixels = [(255, 255, 255, 255 if a >= 96 else 0) for (_, _, _, a) in outline.get_flattened_data()]
    outline.putdata(pixels)
    outline.save(HERE / "outline.png")


if __name__ == "__main__":
    main()
