def encode(text):
    """Run-length encode `text`: "WWWWBBBW" -> "4W3BW"."""
    return ""


def decode(data):
    """Decode a run-length encoded string: "4W3BW" -> "WWWWBBBW"."""
    return ""
