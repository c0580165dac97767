def encode(text):
    """Run-length encode `text`: "WWWWBBBW" -> "4W3BW"."""
    parts = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        run = j - i
        parts.append(f"{run}{text[i]}" if run > 1 else text[i])
        i = j
    return "".join(parts)


def decode(data):
    """Decode a run-length encoded string: "4W3BW" -> "WWWWBBBW"."""
    parts = []
    count = ""
    for ch in data:
        if ch.isdigit():
            count += ch
        else:
            parts.append(ch * (int(count) if count else 1))
            count = ""
    return "".join(parts)
