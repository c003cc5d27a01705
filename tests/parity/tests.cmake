# tests/parity/tests.cmake — PyTorch parity: self-tests of the reference tools/torch_ref.py.
add_test(NAME parity.torch_ref COMMAND ${SWITCHYARD_PYTHON} ${CMAKE_SOURCE_DIR}/tests/parity/test_torch_ref.py)
set_tests_properties(parity.torch_ref PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1" TIMEOUT 300)
