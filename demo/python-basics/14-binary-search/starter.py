def binary_search(items, target):
    """Return the index of `target` in the sorted sequence `items`, or -1.

    Use the halving strategy: only about log2(len(items)) items may be read.
    """
    return -1
