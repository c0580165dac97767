def greet(name):
    message = f"Hello, {name}!"
    print(message)
    return len(message)


def report(counts):
    for key in sorted(counts):
        print(key, counts[key], sep=": ")
    print("total", sum(counts.values()), end="\n")


def ask_sum(count):
    total = 0
    for n in range(1, count + 1):
        total += int(input(f"Number {n}: "))
    print(f"The sum is {total}")
    return total
