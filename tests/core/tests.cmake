ditstudio_test(core core/test_safetensors.cpp)
ditstudio_test(core core/test_golden.cpp)
