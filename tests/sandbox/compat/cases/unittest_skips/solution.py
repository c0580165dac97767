import re


def slugify(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def slugify_path(text):
    return "/".join(slugify(part) for part in text.split("/"))
