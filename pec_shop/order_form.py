"""The compose form: what the customer typed, the rules it must follow, and the messages for each field.

Field names are part of the shop's contract (the value chain's demo posts them): ``customer_name``,
``bottle_size_ml``, ``ingredient`` and ``ratio`` (repeated, same order, whole percent), ``label_text``,
``label_image`` (file), ``quantity``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pec_shop.catalogue import (
    BOTTLE_PRICES,
    INGREDIENTS,
    MAX_CUSTOMER_NAME,
    MAX_INGREDIENTS,
    MAX_LABEL_TEXT,
    MAX_QUANTITY,
    MIN_INGREDIENTS,
    MIN_QUANTITY,
)
from pec_shop.label_images import (
    CheckedImage,
    LabelImageRejected,
    LabelImageTooLarge,
    LabelUpload,
    check_image_size,
    check_label_image,
)


@dataclass
class FormInput:
    """What was typed, as text, so a refused form is shown again exactly as it was."""

    customer_name: str = ""
    bottle_size_ml: str = ""
    ingredients: list[tuple[str, str]] = field(default_factory=list)  # (ingredient, ratio) rows, as typed
    label_text: str = ""
    quantity: str = "1"
    image_name: str = ""


@dataclass(frozen=True)
class MixPart:
    ingredient: str
    percent: int


@dataclass(frozen=True)
class OrderRequest:
    """A form that passed every rule."""

    customer_name: str
    bottle_size_ml: int
    mix: tuple[MixPart, ...]
    label_text: str | None
    label_image: CheckedImage | None
    quantity: int


class FormErrors(Exception):
    """Per-field messages (``field -> [message]``); ``ingredients`` holds the rules about the whole mix, and
    ``mix_rows`` the positions of the rows those rules found at fault (blank rows never are)."""

    def __init__(self, messages: dict[str, list[str]], mix_rows: frozenset[int] = frozenset(),
                 image_too_large: bool = False) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items()))
        self.messages, self.mix_rows, self.image_too_large = messages, mix_rows, image_too_large


def validate(form: FormInput, image: LabelUpload | None, *, max_image_bytes: int,
             max_image_pixels: int) -> OrderRequest:
    """The order the form asks for, or :class:`FormErrors` naming every field to fix."""
    errors: dict[str, list[str]] = {}
    bad_rows: set[int] = set()

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    name = form.customer_name.strip()
    if not name:
        fail("customer_name", "Enter the name we should address you by.")
    elif len(name) > MAX_CUSTOMER_NAME:
        fail("customer_name", f"Use at most {MAX_CUSTOMER_NAME} characters (you typed {len(name)}).")

    size = _int(form.bottle_size_ml)
    if size not in BOTTLE_PRICES:
        fail("bottle_size_ml", "Choose one of the bottle sizes: "
             + ", ".join(f"{ml} ml" for ml in BOTTLE_PRICES) + ".")

    mix = _mix(form.ingredients, fail, bad_rows)

    label_text = form.label_text.strip()
    if len(label_text) > MAX_LABEL_TEXT:
        fail("label_text", f"Use at most {MAX_LABEL_TEXT} characters (you typed {len(label_text)}).")

    quantity = _int(form.quantity)
    if quantity is None or not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        fail("quantity", f"Order between {MIN_QUANTITY} and {MAX_QUANTITY} bottles.")

    checked: CheckedImage | None = None
    too_large = False
    if image is not None and image.size:
        try:
            check_image_size(image.size, max_bytes=max_image_bytes, cut_off=image.cut_off)
            checked = check_label_image(image.data, max_bytes=max_image_bytes, max_pixels=max_image_pixels)
        except LabelImageRejected as exc:
            too_large = isinstance(exc, LabelImageTooLarge)
            fail("label_image", str(exc)[0].upper() + str(exc)[1:] + ".")

    if errors:
        raise FormErrors(errors, frozenset(bad_rows), too_large)
    assert size is not None and quantity is not None
    return OrderRequest(customer_name=name, bottle_size_ml=size, mix=tuple(mix), label_text=label_text or None,
                        label_image=checked, quantity=quantity)


def _mix(rows: list[tuple[str, str]], fail: Callable[[str, str], None], bad_rows: set[int]) -> list[MixPart]:
    """Rows left fully blank are unused slots of the form; every other row must name an ingredient and a ratio.
    The positions of the rows at fault go into ``bad_rows``: a row that breaks a rule, or every used row when
    their ratios do not add up to 100."""
    parts: list[MixPart] = []
    seen: set[str] = set()
    used = [(n, i.strip(), r.strip()) for n, (i, r) in enumerate(rows) if i.strip() or r.strip()]
    for row, ingredient, ratio in used:
        if ingredient not in INGREDIENTS:
            fail("ingredients", f"Choose the ingredient from the list (not {ingredient!r})." if ingredient
                 else f"Choose an ingredient for the ratio {ratio}%.")
            bad_rows.add(row)
            continue
        if ingredient in seen:
            fail("ingredients", f"{ingredient.capitalize()} is in the mix twice; use each ingredient once.")
            bad_rows.add(row)
            continue
        seen.add(ingredient)
        percent = _int(ratio)
        if percent is None or not 0 < percent <= 100:
            fail("ingredients", f"Give {ingredient} a ratio between 1 and 100 percent (whole numbers).")
            bad_rows.add(row)
            continue
        parts.append(MixPart(ingredient, percent))
    if not MIN_INGREDIENTS <= len(used) <= MAX_INGREDIENTS:
        fail("ingredients", f"Mix {MIN_INGREDIENTS} to {MAX_INGREDIENTS} ingredients (you chose {len(used)}).")
    elif len(parts) == len(used) and (total := sum(p.percent for p in parts)) != 100:
        fail("ingredients", f"The ratios add up to {total}%; make them add up to exactly 100%.")
        bad_rows.update(row for row, _, _ in used)
    return parts


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) < 10 else None
