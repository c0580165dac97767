def inventory_report(stock):
    return [
        f"{item}: {count}" if count else f"{item}: out of stock"
        for item, count in sorted(stock.items())
    ]
