# Rows and columns counted from 0, and no check for irregular rows.
def saddle_points(matrix):
    columns = list(zip(*matrix))
    return [
        {"row": r, "column": c}
        for r, row in enumerate(matrix)
        for c, value in enumerate(row)
        if c < len(columns) and value == max(row) and value == min(columns[c])
    ]
