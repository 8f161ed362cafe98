# parallel/: the CPU transport and USP in one process (threads as ranks), then real rank processes (e2e).
ditstudio_test(parallel parallel/test_collectives.cpp LIBS ditstudio_parallel)
ditstudio_test(parallel parallel/test_usp.cpp LIBS ditstudio_parallel)
ditstudio_test(parallel parallel/test_rank_group.cpp LIBS ditstudio_parallel LABELS e2e)
add_dependencies(test_parallel_rank_group ditstudio-rank ditstudio-cli)
ditstudio_test(parallel parallel/test_usp_bench.cpp LIBS ditstudio_parallel LABELS e2e)
add_dependencies(test_parallel_usp_bench ditstudio-rank ditstudio-cli)
ditstudio_test(parallel parallel/test_data_parallel_training.cpp LABELS e2e)
add_dependencies(test_parallel_data_parallel_training ditstudio-train)
