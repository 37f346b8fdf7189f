"""The life of a node being written: destination, staging, journal, resume, consolidation,
parent groups, mode checks, Icechunk transactions."""
