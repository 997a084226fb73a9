"""Sample customers' orders for the demo: what they type into the shop's form, and their label images."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class CustomerOrder:
    customer: str
    bottle_size_ml: int
    mix: tuple[tuple[str, int], ...]  # (ingredient, whole percent), summing to 100
    label_text: str
    quantity: int
    label_colour: str | None  # None: no label image
    image_format: str = "PNG"

    def form(self) -> dict[str, str | list[str]]:
        """The shop's order form as the browser posts it."""
        return {"customer_name": self.customer, "bottle_size_ml": str(self.bottle_size_ml),
                "ingredient": [name for name, _ in self.mix], "ratio": [str(pct) for _, pct in self.mix],
                "label_text": self.label_text, "quantity": str(self.quantity)}

    def image(self) -> tuple[str, bytes, str] | None:
        """The label image as an upload: (filename, bytes, media type)."""
        if self.label_colour is None:
            return None
        return (f"label.{self.image_format.lower()}", label_image(self.label_text, self.label_colour,
                                                                  self.image_format),
                f"image/{self.image_format.lower()}")

    def describe(self) -> str:
        return " / ".join(f"{name} {pct}%" for name, pct in self.mix)


def label_image(text: str, colour: str, image_format: str = "PNG") -> bytes:
    """A small printable label: the customer's text on a coloured card."""
    card = Image.new("RGB", (360, 120), colour)
    ImageDraw.Draw(card).text((18, 48), text, fill="white")
    out = io.BytesIO()
    card.save(out, format=image_format)
    return out.getvalue()


SAMPLES = (
    CustomerOrder("Aina", 500, (("orange", 60), ("carrot", 40)), "Happy birthday, Wei!", 2, "#e07a1f"),
    CustomerOrder("Raj", 330, (("mango", 50), ("pineapple", 30), ("lime", 20)), "Team offsite 2026", 3, "#2e8b57",
                  "JPEG"),
    CustomerOrder("Mei", 1000, (("apple", 70), ("ginger", 30)), "Get well soon", 1, None),
)
