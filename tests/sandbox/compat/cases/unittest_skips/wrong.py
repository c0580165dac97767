# Replaces single spaces only and keeps punctuation (so the expected failure passes),
# and gets the bonus wrong.
def slugify(text):
    return text.lower().replace(" ", "-")


def slugify_path(text):
    return text.lower()
