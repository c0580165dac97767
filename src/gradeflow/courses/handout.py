"""Rendering teacher-written Markdown handouts to HTML that is safe to embed."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # html=False escapes raw HTML in the source, and markdown-it's link validation
    # drops javascript:/vbscript:/data: URLs, so the output cannot carry script.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@lru_cache(maxsize=512)
def render_handout(markdown: str) -> str:
    html: str = _renderer().render(markdown)
    return html
