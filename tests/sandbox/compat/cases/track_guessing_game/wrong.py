# Always says "guesses", and a word that is not a number uses up a guess.
def play(secret, max_guesses=5):
    for guesses in range(1, max_guesses + 1):
        text = input("Your guess: ")
        if not text.isdigit():
            print("Please enter a whole number.")
            continue
        guess = int(text)
        if guess < secret:
            print("Too low!")
        elif guess > secret:
            print("Too high!")
        else:
            print(f"Correct! You needed {guesses} guesses.")
            return guesses
    print(f"Out of guesses! The number was {secret}.")
    return None
