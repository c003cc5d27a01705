# tests/cli/tests.cmake — end-to-end checks of the switchyard binary.
add_test(NAME cli.exit_codes COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/exit_codes.sh $<TARGET_FILE:switchyard>)
set_tests_properties(cli.exit_codes PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1" TIMEOUT 300 LABELS cli)
add_test(NAME cli.ckpt COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/ckpt_cli.sh $<TARGET_FILE:switchyard>)
set_tests_properties(cli.ckpt PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1" TIMEOUT 300 LABELS cli)
