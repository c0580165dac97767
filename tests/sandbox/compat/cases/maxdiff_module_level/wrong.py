# Reports "0" instead of "out of stock".
def inventory_report(stock):
    return [f"{item}: {count}" for item, count in sorted(stock.items())]
