"""Pure layout maths on tuples: the chunk grid, the write plan, the rechunk plan. No I/O."""
