#!/usr/bin/env bash
# tests/mpi/mpirun.sh — the one place that knows how to start Open MPI 4.1 ranks in this container.
#   --allow-run-as-root  the container runs tests as root, which mpirun refuses by default
#   --oversubscribe      tests start up to 4 ranks on 2 cores
#   --bind-to none       ctest runs several mpirun jobs at once; default core binding would pile their ranks onto the same cores
# Nothing else was needed here: shared-memory (vader, with CMA single copy) and tcp work as configured.
# Usage: mpirun.sh -np N [more mpirun options] program [args]
exec mpirun --allow-run-as-root --oversubscribe --bind-to none "$@"
