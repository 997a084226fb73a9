"""Checks that an uploaded label image is a real PNG or JPEG of sensible size (Pillow: open, then verify)."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
MAX_SIDE = 10_000


class LabelImageRejected(ValueError):
    """The upload is not an image the shop accepts; the message says what to upload instead."""


class LabelImageTooLarge(LabelImageRejected):
    """The upload has more bytes than the shop takes (HTTP 413 Content Too Large, RFC 9110 §15.5.14)."""


@dataclass(frozen=True)
class LabelUpload:
    """What arrived of the label image: all of it when it fits, else its first bytes and how many there were."""

    data: bytes
    size: int
    cut_off: bool = False  # the upload was stopped within the image: it had more than ``size`` bytes


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    sha256: str
    width: int
    height: int


def size_text(n: int) -> str:
    """A size in the unit the shop states every size in: ``2.0 MiB``, ``64.0 KiB`` (below 1 MiB), ``900 bytes``."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n:,} bytes"


def check_image_size(size: int, *, max_bytes: int, cut_off: bool = False) -> None:
    """Refuses an image of more than ``max_bytes``, naming its real size (or, ``cut_off``, a lower bound)."""
    if size > max_bytes:
        actual = f"larger than {size_text(size)}" if cut_off else f"{size_text(size)} ({size:,} bytes)"
        raise LabelImageTooLarge(f"the image is {actual}; choose one of at most {size_text(max_bytes)}")


def check_label_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    check_image_size(len(data), max_bytes=max_bytes)
    if not data:
        raise LabelImageRejected("the image file is empty; choose a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if kind not in MEDIA_TYPES:
                    raise LabelImageRejected(f"the image is {kind or 'of an unknown format'}; "
                                             "choose a PNG or JPEG image")
                if width * height > max_pixels or max(width, height) > MAX_SIDE:
                    raise LabelImageRejected(f"the image is {width}x{height} pixels; choose one of at most "
                                             f"{max_pixels:,} pixels and {MAX_SIDE} pixels a side")
                image.verify()
    except LabelImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise LabelImageRejected("the image has too many pixels; choose a smaller PNG or JPEG image") from exc
    except Exception as exc:  # Pillow raises many kinds (UnidentifiedImageError, OSError, SyntaxError...)
        raise LabelImageRejected("the file is not a readable image; choose a PNG or JPEG image") from exc
    return CheckedImage(data=data, content_type=MEDIA_TYPES[kind], sha256=hashlib.sha256(data).hexdigest(),
                        width=width, height=height)
