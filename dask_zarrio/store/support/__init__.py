"""What the stores share: key/value and server bases, failure translation, retries,
local-file and S3 request helpers, ranged reads, reference-set parsing."""
