# tests/mpi/tests.cmake — tests with real Open MPI ranks, each run through mpi/mpirun.sh (the flags this container needs).
set(SWITCHYARD_MPIRUN ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpirun.sh)

# One executable per file; one ctest per rank count, named mpi.<name>.np<N>.
function(switchyard_mpi_test name)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/${name}.cpp)
  target_compile_options(${name} PRIVATE ${SWITCHYARD_WARNINGS})
  target_link_libraries(${name} PRIVATE sy_comm GTest::gtest)
  foreach(np ${ARGN})
    add_test(NAME mpi.${name}.np${np} COMMAND bash ${SWITCHYARD_MPIRUN} -np ${np} $<TARGET_FILE:${name}>)
    # One thread per rank: the machine has 2 cores and tests start up to 4 ranks.
    set_tests_properties(mpi.${name}.np${np} PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                         TIMEOUT 120 LABELS mpi PROCESSORS ${np})
  endforeach()
endfunction()

switchyard_mpi_test(grid_test 1 2 3 4)
switchyard_mpi_test(engine_test 1 2 3 4)
# The 2D all-to-all: 4 ranks as 2 fake nodes of 2, 6 as 2 x 3 and 3 x 2 (node assignment given by the test).
switchyard_mpi_test(hier_a2a_test 4 6)
# Warm Trainer steps (EP all-to-alls, gradient buckets) allocate no tensor-sized buffer: 2 ranks = EP only, 4 = EP x DP.
switchyard_mpi_test(steady_state_test 2 4)
target_link_libraries(steady_state_test PRIVATE sy_launch)

# Fault tests: a small collective loop (fault_main) under mpirun, judged from the
# combined output and exit code by fault_tests.py.
add_executable(fault_main ${CMAKE_CURRENT_SOURCE_DIR}/mpi/fault_main.cpp)
target_compile_options(fault_main PRIVATE ${SWITCHYARD_WARNINGS})
target_link_libraries(fault_main PRIVATE sy_comm)
foreach(scenario clean stall_world stall_ep drop fail kill kill_rank0 error_exit)
  add_test(NAME mpi.faults.${scenario}
           COMMAND ${SWITCHYARD_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/fault_tests.py ${SWITCHYARD_MPIRUN}
                   $<TARGET_FILE:fault_main> ${scenario})
  set_tests_properties(mpi.faults.${scenario} PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                       TIMEOUT 120 LABELS mpi PROCESSORS 4)
endforeach()

# The same scenarios with ranks on two "hosts" (network namespaces); needs root and iproute2, else skipped.
add_test(NAME mpi.faults.netns
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/netns_faults.sh ${SWITCHYARD_PYTHON}
                 ${CMAKE_CURRENT_SOURCE_DIR}/mpi/fault_tests.py ${SWITCHYARD_MPIRUN} $<TARGET_FILE:fault_main>)
set_tests_properties(mpi.faults.netns PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                     TIMEOUT 300 LABELS "mpi;netns" PROCESSORS 4 SKIP_RETURN_CODE 77)

# The trainer on two "hosts": losses equal one host's, hierarchical = flat, a cut link ends every rank with code 5.
add_test(NAME mpi.train.netns
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/netns_train.sh $<TARGET_FILE:switchyard> ${SWITCHYARD_MPIRUN}
                 ${SWITCHYARD_PYTHON})
set_tests_properties(mpi.train.netns PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                     TIMEOUT 300 LABELS "mpi;netns" PROCESSORS 4 SKIP_RETURN_CODE 77)

# The trainer under real mpirun: world-size invariance, determinism, kill -9, stall, preemption + resume,
# hierarchical = flat all-to-all (fake nodes).
foreach(scenario invariance determinism kill stall preempt errors reshard hierarchical)
  add_test(NAME mpi.train.${scenario}
           COMMAND ${SWITCHYARD_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/train_tests.py ${SWITCHYARD_MPIRUN}
                   $<TARGET_FILE:switchyard> ${scenario})
  set_tests_properties(mpi.train.${scenario} PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                       TIMEOUT 300 LABELS mpi PROCESSORS 4)
endforeach()

# kill -9 of every rank while a checkpoint is being written: the previous one survives and the rerun resumes from it.
add_test(NAME mpi.train.kill_during_save
         COMMAND ${SWITCHYARD_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/kill_during_save.py ${SWITCHYARD_MPIRUN}
                 $<TARGET_FILE:switchyard>)
set_tests_properties(mpi.train.kill_during_save PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                     TIMEOUT 300 LABELS mpi PROCESSORS 2)
