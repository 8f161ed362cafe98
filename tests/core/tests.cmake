ditstudio_test(core core/test_safetensors.cpp)
ditstudio_test(core core/test_golden.cpp)
ditstudio_test(core core/test_umt5.cpp)
ditstudio_test(core core/test_tokenizer.cpp)
ditstudio_test(core core/test_presets.cpp)
ditstudio_test(core core/test_export.cpp)
ditstudio_test(core core/test_model_folder.cpp)
target_compile_definitions(test_core_model_folder PRIVATE DITSTUDIO_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
ditstudio_test(core core/test_wan_vae.cpp)
# Fault injection into real processes (disk full during export, model files truncated while loading).
add_executable(fault_child ${CMAKE_CURRENT_SOURCE_DIR}/core/fault_child.cpp)
target_link_libraries(fault_child PRIVATE ditstudio_core)
ditstudio_test(core core/test_fault_injection.cpp LABELS e2e)
target_compile_definitions(test_core_fault_injection PRIVATE DITSTUDIO_FAULT_CHILD="$<TARGET_FILE:fault_child>")
add_dependencies(test_core_fault_injection fault_child)
# Inputs that crashed a reader under libFuzzer (tests/fuzz/regressions), refused cleanly now.
ditstudio_test(core core/test_fuzz_regressions.cpp)
target_compile_definitions(test_core_fuzz_regressions PRIVATE DITSTUDIO_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# ditstudio-train's stages at a tiny size (~5 s): the model folder it leaves loads and generates; --continue-dit.
ditstudio_test(core core/test_demo_trainer.cpp)
# The trainer's fused AdamW and sync-free clipping against LibTorch's AdamW and clip_grad_norm_.
ditstudio_test(core core/test_fused_adamw.cpp)
# The demo model's training world: reproducible clips, captions that say what is drawn, the object scale.
ditstudio_test(core core/test_synthetic_world.cpp)
# The demo model's content: colour, shape and direction measured from generated pixels (33 CPU generations, ~2 min).
ditstudio_test(core core/test_demo_content.cpp)
# ~22 generations of 17 frames on the CPU: more than Qt Test's default 5 minutes per function on a busy 2-core box.
set_property(TEST core-demo_content APPEND PROPERTY ENVIRONMENT QTEST_FUNCTION_TIMEOUT=1800000)
