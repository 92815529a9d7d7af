"""A document's text as HTML with its notes highlighted, whose text is the document's text.

The page shows the text in a ``white-space: pre-wrap`` container, and the
annotating script counts characters over the container's text content, so the
HTML made here adds markup only: its text content is ``text`` exactly. Notes
that overlap or nest cut the text into segments; each segment is one
``<mark>`` that names every note covering it (``data-notes``), and the first
segment of each note carries its anchor (``id="note-<pk>"``).

Pure: no Django and no models, so it is tested and timed alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Span:
    """A note's place in the text: characters ``start`` to ``end`` (not included)."""

    note_id: int
    start: int
    end: int


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    # Every note covering the segment, in the order the spans were given.
    notes: tuple[int, ...]
    # The notes whose first segment this is.
    starting: tuple[int, ...]


def segments(length: int, spans: Iterable[Span]) -> list[Segment]:
    """The text ``[0, length)`` cut at every note's start and end.

    Spans outside the text are clipped to it; empty ones are left out (a note
    on no characters has nothing to highlight).
    """
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    order: dict[int, int] = {}
    for span in spans:
        start, end = max(0, span.start), min(length, span.end)
        if start >= end or span.note_id in order:
            continue
        order[span.note_id] = len(order)
        starts.setdefault(start, []).append(span.note_id)
        ends.setdefault(end, []).append(span.note_id)
    cuts = sorted({0, length, *starts, *ends})
    active: dict[int, None] = {}  # an ordered set: removal in constant time
    found: list[Segment] = []
    for position, following in zip(cuts, cuts[1:], strict=False):
        for note_id in ends.get(position, ()):
            active.pop(note_id, None)
        beginning = starts.get(position, [])
        for note_id in beginning:
            active[note_id] = None
        covering = tuple(sorted(active, key=order.__getitem__))
        found.append(Segment(position, following, covering, tuple(beginning)))
    return found


def _text(piece: str) -> str:
    # A carriage return would be folded into a line feed by the HTML parser;
    # as a character reference it stays itself, and offsets stay right.
    return escape(piece, quote=False).replace("\r", "&#13;")


def render_highlights(text: str, spans: Iterable[Span]) -> str:
    """``text`` escaped, with each span of a note wrapped in ``<mark>`` elements."""
    parts: list[str] = []
    for segment in segments(len(text), spans):
        piece = _text(text[segment.start : segment.end])
        if not segment.notes:
            parts.append(piece)
            continue
        classes = "note-mark note-overlap" if len(segment.notes) > 1 else "note-mark"
        anchor = f' id="note-{segment.starting[0]}"' if segment.starting else ""
        # One element carries one id: notes starting on the same character get
        # an empty anchor each, which adds no text.
        extra = "".join(
            f'<span id="note-{note_id}" class="note-anchor"></span>'
            for note_id in segment.starting[1:]
        )
        names = " ".join(str(note_id) for note_id in segment.notes)
        parts.append(f'<mark{anchor} class="{classes}" data-notes="{names}">{extra}{piece}</mark>')
    return "".join(parts)
