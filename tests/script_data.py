"""Where a <script> element's text ends, by the rules of HTML's tokenizer (WHATWG HTML, 13.2.5.4-13.2.5.25: the
script data states): after `<!--` an inner `<script>` enters the double-escaped state, where `</script>` does not
end the element. A test of a page's embedded data, without a browser."""

from __future__ import annotations

_END = " \t\n\f/>"  # what may follow `</script` in an end tag


def script_end(page: str, start: int) -> int | None:
    """The index of the `</script` that ends the script element whose text begins at `start`, or None."""
    state, i = "data", start
    while i < len(page):
        c = page[i]
        if state in ("data", "escaped", "escaped-dash", "escaped-dash-dash") and page.startswith("<", i):
            if _end_tag(page, i):
                return i
            if state == "data":
                state, i = ("escape-start", i + 2) if page.startswith("<!", i) else ("data", i + 1)
                continue
            word = _word(page, i + 1)
            state = "double" if word.lower() == "script" and _ends_word(page, i + 1 + len(word)) else "escaped"
            i += 1 + len(word) if state == "double" else 1
            continue
        if state in ("double", "double-dash", "double-dash-dash") and c == "<":
            if page.startswith("</", i) and _word(page, i + 2).lower() == "script" and _ends_word(page, i + 8):
                state, i = "escaped", i + 8
                continue
            state, i = "double", i + 1
            continue
        if state.startswith("escape-start") and c != "-":  # `<!` not followed by `--`: read c again as data
            state = "data"
            continue
        state = _next(state, c)
        i += 1
    return None


def _next(state: str, c: str) -> str:
    """The state after character `c` (not '<', handled above)."""
    if state == "escape-start":
        return "escape-start-dash"
    if state == "escape-start-dash":
        return "escaped-dash-dash"
    if state == "data":
        return "data"
    prefix = "double" if state.startswith("double") else "escaped"
    if c == "-":
        return f"{prefix}-dash-dash" if state != prefix else f"{prefix}-dash"
    if c == ">" and state.endswith("dash-dash"):
        return "data"
    return prefix


def _end_tag(page: str, i: int) -> bool:
    return page[i : i + 8].lower() == "</script" and _ends_word(page, i + 8)


def _word(page: str, i: int) -> str:
    j = i
    while j < len(page) and page[j].isascii() and page[j].isalpha():
        j += 1
    return page[i:j]


def _ends_word(page: str, i: int) -> bool:
    return i < len(page) and page[i] in _END
