from __future__ import annotations

from gradeflow.courses.handout import render_handout


def test_markdown_is_rendered() -> None:
    html = render_handout("# Title\n\n**bold** and `code`\n\n```python\nx = 1\n```\n")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert '<code class="language-python">x = 1\n</code>' in html


def test_raw_html_and_script_links_are_neutralised() -> None:
    html = render_handout(
        '<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">\n\n'
        "[a](javascript:alert(1)) [b](data:text/html;base64,PHNjcmlwdD4=) [c](https://example.org)"
    )
    assert "<script>" not in html
    assert "<img" not in html
    assert 'href="javascript:' not in html
    assert 'href="data:' not in html
    assert '<a href="https://example.org">c</a>' in html
