"""EmailStore's tests.

Set before anything imports grpc: its fork handlers can crash forked children (seen as
pg_ctl dying with SIGSEGV when a test stops its own PostgreSQL while gRPC threads run), and
nothing the tests fork goes on to use gRPC.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
