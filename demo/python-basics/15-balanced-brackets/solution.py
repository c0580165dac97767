PARTNER = {")": "(", "]": "[", "}": "{"}
OPENERS = set(PARTNER.values())


def is_balanced(text):
    """Return True if all (), [] and {} brackets in `text` are properly matched."""
    stack = []
    for ch in text:
        if ch in OPENERS:
            stack.append(ch)
        elif ch in PARTNER:
            if not stack or stack.pop() != PARTNER[ch]:
                return False
    return not stack
