"""gRPC edge: proto <-> models conversion, servicers, and the one error-to-status table."""
