VERSION = "1.2"
LIMIT = 5
PRICES = {"apple": 3, "pear": 4}
orders_taken = 0


def reset():
    global orders_taken
    orders_taken = 0


def order(item, quantity):
    global orders_taken
    if quantity > LIMIT:
        raise ValueError(f"at most {LIMIT} at a time")
    orders_taken += 1
    return PRICES[item] * quantity
