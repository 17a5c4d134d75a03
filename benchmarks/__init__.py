"""EmailStore's benchmarks (`make bench`) and the outage drill (`python -m benchmarks.outage`).

Set before anything imports grpc: its fork handlers can crash forked children (pg_ctl, when
the embedded PostgreSQL is stopped or started while gRPC threads run).
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
