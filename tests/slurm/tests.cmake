# tests/slurm/tests.cmake — slurm/*.sbatch on a real one-node Slurm cluster the test starts and stops (root; else skipped).
add_test(NAME slurm.sbatch
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/slurm_test.sh $<TARGET_FILE:switchyard> ${SWITCHYARD_PYTHON})
set_tests_properties(slurm.sbatch PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                     TIMEOUT 300 LABELS slurm PROCESSORS 2 SKIP_RETURN_CODE 77)
