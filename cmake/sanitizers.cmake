# DITSTUDIO_SANITIZE=address,undefined | thread: instruments the project's own code.
if(DITSTUDIO_SANITIZE)
  add_compile_options(-fsanitize=${DITSTUDIO_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${DITSTUDIO_SANITIZE})
endif()
