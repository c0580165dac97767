# Copies the limit and prices at import time (so later changes to the module are not
# seen), counts in a local it never publishes, and has a wrong price list.
VERSION = "1.2"
LIMIT = 5
PRICES = {"apple": 3, "pear": 5}
orders_taken = 0
_limit = LIMIT
_prices = dict(PRICES, pear=4)
_count = [0]


def reset():
    _count[0] = 0


def order(item, quantity):
    if quantity > _limit:
        raise ValueError(f"at most {_limit} at a time")
    _count[0] += 1
    return _prices[item] * quantity
