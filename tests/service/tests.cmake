ditstudio_test(service service/test_framing.cpp LIBS ditstudio_service)
ditstudio_test(service service/test_job_store.cpp LIBS ditstudio_service)
target_compile_definitions(test_service_framing PRIVATE DITSTUDIO_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
ditstudio_test(service service/test_worker.cpp LIBS ditstudio_service)
add_dependencies(test_service_worker ditstudio-worker)
ditstudio_test(service service/test_worker_e2e.cpp LIBS ditstudio_service LABELS e2e)
add_dependencies(test_service_worker_e2e ditstudio-worker ditstudio-rank)
set_tests_properties(service-worker_e2e PROPERTIES TIMEOUT 900)
# Faults and load against a real worker (reliability, issue 11): two clients on one job, a stalled streaming
# client, TCP without a token, 200 jobs from 4 clients (DITSTUDIO_LOAD_JOBS) leaking no fds, threads or
# processes.
ditstudio_test(service service/test_worker_faults.cpp LABELS e2e)
add_dependencies(test_service_worker_faults ditstudio-worker ditstudio-rank)
set_tests_properties(service-worker_faults PROPERTIES TIMEOUT 1500
                     ENVIRONMENT "QT_QPA_PLATFORM=offscreen;QTEST_FUNCTION_TIMEOUT=1400000")
# Recovery through the test-only fault points (core/util/fault_points.h): the worker SIGKILLed mid-export and
# restarted; a rank out of GPU memory (a real c10::OutOfMemoryError) fails its job with advice and the next job runs.
ditstudio_test(service service/test_worker_recovery.cpp LABELS e2e)
add_dependencies(test_service_worker_recovery ditstudio-worker ditstudio-rank)
set_tests_properties(service-worker_recovery PROPERTIES TIMEOUT 900
                     ENVIRONMENT "QT_QPA_PLATFORM=offscreen;QTEST_FUNCTION_TIMEOUT=800000")
