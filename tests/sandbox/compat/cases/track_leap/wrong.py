# Only the divisible-by-4 rule.
def leap_year(year):
    return year % 4 == 0
