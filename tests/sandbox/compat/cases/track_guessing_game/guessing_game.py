def play(secret, max_guesses=5):
    guesses = 0
    while guesses < max_guesses:
        text = input("Your guess: ")
        try:
            guess = int(text)
        except ValueError:
            print("Please enter a whole number.")
            continue
        guesses += 1
        if guess < secret:
            print("Too low!")
        elif guess > secret:
            print("Too high!")
        else:
            print(f"Correct! You needed {guesses} {'guess' if guesses == 1 else 'guesses'}.")
            return guesses
    print(f"Out of guesses! The number was {secret}.")
    return None
