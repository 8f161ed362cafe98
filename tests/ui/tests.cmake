# The studio (ui/): models, panels, worker client wrapper, player, and the main window against a worker double.
# All run offscreen (QT_QPA_PLATFORM=offscreen, set by ditstudio_test); none needs a GPU.
foreach(_ui_test models panels worker_client player main_window)
  ditstudio_test(ui ui/test_${_ui_test}.cpp LIBS ditstudio_ui)
  # Qt Widgets defines QT_GUI_LIB/QT_WIDGETS_LIB, which the shared test header was built without: GCC skips that
  # header here with a -Winvalid-pch note and compiles the sources directly, which must not fail a -Werror build.
  target_compile_options(test_ui_${_ui_test} PRIVATE -Wno-error=invalid-pch)
endforeach()
target_compile_definitions(test_ui_main_window PRIVATE DITSTUDIO_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# The studio end to end: the real widgets and client against a real ditstudio-worker with CPU ranks and the golden
# tiny models (generate, previews, progress, play, export and read back, reuse settings, cancel).
if(TARGET ditstudio-worker AND TARGET ditstudio-rank)
  ditstudio_test(ui ui/test_studio_e2e.cpp LIBS ditstudio_ui LABELS e2e)
  target_compile_options(test_ui_studio_e2e PRIVATE -Wno-error=invalid-pch)
  add_dependencies(test_ui_studio_e2e ditstudio-worker ditstudio-rank)
  set_tests_properties(ui-studio_e2e PROPERTIES TIMEOUT 900)
endif()
