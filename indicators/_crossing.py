"""First-passage search shared by the level engines (numba).

"When does price first trade through this level?" for many levels at once: sweep start positions
from right to left keeping the chain of prefix-minimum records (nearest first, values strictly
falling) on a stack; the first bar at or after a start whose value is ≤ p is always such a record,
found by binary search. O(bars + levels × log bars) instead of scanning bars per level.
"""

import numba


@numba.njit(cache=True, inline="always")
def push_until(values, stack, size, next_push, start):
    """Push positions next_push, next_push − 1, …, start onto the record stack; return (size, next_push)."""
    while next_push >= start:
        v = values[next_push]
        while size > 0 and values[stack[size - 1]] >= v:
            size -= 1
        stack[size] = next_push
        size += 1
        next_push -= 1
    return size, next_push


@numba.njit(cache=True, inline="always")
def first_at_or_below(values, stack, size, p):
    """Nearest stacked position with values[pos] <= p, or -1 (stack built for the current start)."""
    if size == 0 or values[stack[0]] > p:  # bottom holds the smallest value from the start onwards
        return -1
    lo, hi = 0, size - 1  # largest i with values[stack[i]] <= p (values rise towards the top)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if values[stack[mid]] <= p:
            lo = mid
        else:
            hi = mid - 1
    return stack[lo]
