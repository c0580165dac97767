# Returns the greeting instead of printing it, prints the report unsorted, and
# reads one number fewer than asked (with a prompt lacking its number).
def greet(name):
    message = f"Hello, {name}!"
    return len(message)


def report(counts):
    for key in counts:
        print(key, counts[key], sep=": ")
    print("total", sum(counts.values()), end="\n")


def ask_sum(count):
    total = 0
    for _ in range(1, count):
        total += int(input("Number: "))
    print(f"The sum is {total}")
    return total
