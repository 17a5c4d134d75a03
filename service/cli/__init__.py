"""Client-side commands of `emailstore` that talk to a running server over gRPC."""
