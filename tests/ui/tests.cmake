# The studio (ui/): models, panels, worker client wrapper, player, and the main window against a worker double.
# All run offscreen (QT_QPA_PLATFORM=offscreen, set by ditstudio_test); none needs a GPU.
foreach(_ui_test models panels worker_client player main_window)
  ditstudio_test(ui ui/test_${_ui_test}.cpp LIBS ditstudio_ui)
  # Qt Widgets defines QT_GUI_LIB/QT_WIDGETS_LIB, which the shared test header was built without: GCC skips that
  # header here with a -Winvalid-pch note and compiles the sources directly, which must not fail a -Werror build.
  target_compile_options(test_ui_${_ui_test} PRIVATE -Wno-error=invalid-pch)
endforeach()

