"""Memory of the host process: the read-buffer pool and the worker allocator scope (behind config)."""
