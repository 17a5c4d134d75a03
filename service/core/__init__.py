"""Use cases: validate input, orchestrate the codec and the store. No grpc, no SQL."""
