# tests/cuda/tests.cmake — CUDA backend tests, built only with the backend (sy_cuda).  Tests that need a GPU
# skip with "no CUDA device: <reason>" when there is none; the checker and host-side tests run everywhere.
if(NOT TARGET sy_cuda)
  return()
endif()

foreach(name cuda_check_test cuda_ops_test)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/cuda/${name}.cpp)
  target_compile_options(${name} PRIVATE ${SWITCHYARD_WARNINGS})
  target_link_libraries(${name} PRIVATE sy_cuda GTest::gtest_main)
  gtest_discover_tests(${name} PROPERTIES LABELS cuda ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                       DISCOVERY_TIMEOUT 60)
endforeach()

# The whole model on the CUDA training backend vs the CPU backend (model code, so it links sy_launch).
add_executable(cuda_training_test ${CMAKE_CURRENT_SOURCE_DIR}/cuda/cuda_training_test.cpp)
target_compile_options(cuda_training_test PRIVATE ${SWITCHYARD_WARNINGS})
target_link_libraries(cuda_training_test PRIVATE sy_launch GTest::gtest_main)
gtest_discover_tests(cuda_training_test PROPERTIES LABELS cuda ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                     DISCOVERY_TIMEOUT 60)

# NCCL all-to-all and all-reduce, directly and through the CommEngine, with 2 ranks (one GPU each).
add_executable(nccl_collectives_test ${CMAKE_CURRENT_SOURCE_DIR}/cuda/nccl_collectives_test.cpp)
target_compile_options(nccl_collectives_test PRIVATE ${SWITCHYARD_WARNINGS})
target_include_directories(nccl_collectives_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/mpi)
target_link_libraries(nccl_collectives_test PRIVATE sy_cuda GTest::gtest)
foreach(np 2 4)
  add_test(NAME cuda.nccl_collectives.np${np}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpirun.sh -np ${np} $<TARGET_FILE:nccl_collectives_test>)
  set_tests_properties(cuda.nccl_collectives.np${np} PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
                       TIMEOUT 120 LABELS "cuda;mpi" PROCESSORS ${np}
                       # GoogleTest skips exit 0 under mpirun: report them as skipped, not passed.
                       SKIP_REGULAR_EXPRESSION "no CUDA device")
endforeach()
