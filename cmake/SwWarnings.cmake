# sw_target_warnings(tgt): the project's warning set, per target (cmark style).
function(sw_target_warnings tgt)
  target_compile_options(${tgt} PRIVATE
    -Wall -Wextra -pedantic -Wstrict-prototypes -Wshadow -Wvla -Wformat=2
    -Werror=implicit -Wno-unused-parameter)
  if(SW_WERROR)
    target_compile_options(${tgt} PRIVATE -Werror)
  endif()
endfunction()
