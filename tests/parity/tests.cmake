# tests/parity/tests.cmake — PyTorch parity: self-tests of the reference tools/torch_ref.py.
add_test(NAME parity.torch_ref COMMAND ${SWITCHYARD_PYTHON} ${CMAKE_SOURCE_DIR}/tests/parity/test_torch_ref.py)
set_tests_properties(parity.torch_ref PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1" TIMEOUT 300)

# Our loss and gradients against the reference, one config per test.
add_executable(parity_dump ${CMAKE_CURRENT_SOURCE_DIR}/parity/parity_dump.cpp)
target_compile_options(parity_dump PRIVATE ${SWITCHYARD_WARNINGS})
target_link_libraries(parity_dump PRIVATE sy_launch)
foreach(cfg fairseq olmoe learned_top1)
  set(extra "")
  if(cfg STREQUAL "fairseq" OR cfg STREQUAL "learned_top1")
    set(extra --expect-drops)
  endif()
  add_test(NAME parity.grads.${cfg}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/parity/run_parity.sh $<TARGET_FILE:parity_dump>
                   ${SWITCHYARD_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/parity/configs/${cfg}.ini ${extra})
  set_tests_properties(parity.grads.${cfg} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1"
                       TIMEOUT 300 LABELS parity)
endforeach()

# `switchyard eval` of a saved checkpoint against the reference's plain CE on the same text.
foreach(cfg fairseq olmoe)
  add_test(NAME parity.eval.${cfg}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/parity/run_eval_parity.sh $<TARGET_FILE:switchyard>
                   ${SWITCHYARD_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/parity/configs/${cfg}.ini)
  set_tests_properties(parity.eval.${cfg} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1"
                       TIMEOUT 300 LABELS parity)
endforeach()

# tools/fairseq_import.py: a tiny checkpoint in fairseq's moe layout, converted for several ep,
# evaluated by `switchyard eval`, torch_ref and a forward written from fairseq's conventions.
add_test(NAME parity.fairseq_import
         COMMAND ${SWITCHYARD_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/parity/test_fairseq_import.py $<TARGET_FILE:switchyard>)
set_tests_properties(parity.fairseq_import PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1"
                     TIMEOUT 300 LABELS parity)
