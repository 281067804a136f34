# cryptopipe_add_tests(<files>...): add unit tests to cryptopipe_tests when tests are built.
function(cryptopipe_add_tests)
  if(TARGET cryptopipe_tests)
    target_sources(cryptopipe_tests PRIVATE ${ARGN})
  endif()
endfunction()
