"""Survey tasks: which photo to ask about next, leases to contributors, and their answers."""
