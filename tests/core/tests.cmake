ditstudio_test(core core/test_safetensors.cpp)
ditstudio_test(core core/test_golden.cpp)
ditstudio_test(core core/test_umt5.cpp)
ditstudio_test(core core/test_tokenizer.cpp)
