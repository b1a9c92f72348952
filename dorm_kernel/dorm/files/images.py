"""Image checks for ``ImageField``, done with Pillow (imported only when needed).

* ``load_pillow(what)`` – the ``PIL.Image`` module, or ``ImportError`` saying that
  ``what`` needs Pillow and how to install it.
* ``verify_image(file, what)`` – ``(width, height)`` of the image in ``file`` (a
  ``File`` or file object), after Pillow's ``verify()``; ``ValueError`` when it is not
  a readable image. The file is rewound before and after.
* ``get_image_dimensions(file, what)`` – ``(width, height)`` without full verification.
"""
from __future__ import annotations

import io

__all__ = ["get_image_dimensions", "load_pillow", "verify_image"]


def load_pillow(what: str):
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            f"{what} needs Pillow to read images; install it with: pip install Pillow") from exc
    return Image


def _rewind(file) -> None:
    try:
        file.seek(0)
    except (AttributeError, io.UnsupportedOperation, ValueError):
        pass


def verify_image(file, what: str) -> tuple[int, int]:
    """``(width, height)`` of a verified image, else ``ValueError`` (see module doc)."""
    image_mod = load_pillow(what)
    _rewind(file)
    try:
        with image_mod.open(file) as image:
            size = image.size
            image.verify()
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for bad input
        raise ValueError(f"not an image Pillow can read ({type(exc).__name__})") from exc
    finally:
        _rewind(file)
    return size


def get_image_dimensions(file, what: str) -> tuple[int, int]:
    """``(width, height)`` read from the image header."""
    image_mod = load_pillow(what)
    _rewind(file)
    try:
        with image_mod.open(file) as image:
            return image.size
    finally:
        _rewind(file)
