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


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    sha256: str
    width: int
    height: int


def check_label_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    if len(data) > max_bytes:
        raise LabelImageRejected(f"the image is {len(data):,} bytes; upload one of at most {_size(max_bytes)} "
                                 f"({max_bytes:,} bytes)")
    if not data:
        raise LabelImageRejected("the image file is empty; upload a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if kind not in MEDIA_TYPES:
                    raise LabelImageRejected(f"the image is {kind or 'of an unknown format'}; "
                                             "upload a PNG or JPEG image")
                if width * height > max_pixels or max(width, height) > MAX_SIDE:
                    raise LabelImageRejected(f"the image is {width}x{height} pixels; upload one of at most "
                                             f"{max_pixels:,} pixels and {MAX_SIDE} pixels a side")
                image.verify()
    except LabelImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise LabelImageRejected("the image has too many pixels; upload a smaller PNG or JPEG image") from exc
    except Exception as exc:  # Pillow raises many kinds (UnidentifiedImageError, OSError, SyntaxError...)
        raise LabelImageRejected("the file is not a readable image; upload a PNG or JPEG image") from exc
    return CheckedImage(data=data, content_type=MEDIA_TYPES[kind], sha256=hashlib.sha256(data).hexdigest(),
                        width=width, height=height)


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n / 1024:g} KiB"
