# ditstudio_warnings(target): the project's warning set, -Werror when DITSTUDIO_WERROR (CI) is on.
function(ditstudio_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter
                         # GCC 12 at -O3 reports impossible memcpy bounds inside libstdc++'s std::string (a known
                         # false positive, GCC bug 105329); it would fail -Werror builds on correct code.
                         -Wno-stringop-overflow -Wno-restrict>)
  if(DITSTUDIO_WERROR)
    # The same libstdc++ false positives stay visible as warnings but do not fail the build.
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror -Wno-error=array-bounds
                           -Wno-error=stringop-overread -Wno-error=invalid-pch>)
  endif()
endfunction()
