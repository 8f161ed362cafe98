ditstudio_test(kernels kernels/test_compile_settings.cpp LIBS ditstudio_kernels)
ditstudio_test(kernels kernels/test_autotune_cache.cpp LIBS ditstudio_kernels)
ditstudio_test(kernels kernels/test_compiled_dit.cpp LIBS ditstudio_kernels)
ditstudio_test(kernels kernels/test_benches.cpp LIBS ditstudio_kernels)
add_dependencies(test_kernels_benches ditstudio-cli) # bench --profile through the CLI
ditstudio_test(kernels kernels/test_fused_kernels.cpp LIBS ditstudio_kernels LABELS gpu)
ditstudio_test(kernels kernels/test_vae_norm.cpp LIBS ditstudio_kernels)
