"""Pure functions: content hashing, chunking and compression. No I/O, no grpc, no SQL."""
