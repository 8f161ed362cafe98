// Stands in for nccl_communicator.cpp when DITSTUDIO_CUDA is OFF (see parallel/CMakeLists.txt).
#include "parallel/nccl_communicator.h"

#include <fmt/format.h>

namespace ditstudio::parallel {

std::unique_ptr<Communicator> makeNcclCommunicator(c10::intrusive_ptr<c10d::Store>, int rank, int size,
                                                   at::Device device, std::chrono::milliseconds) {
    throw ConfigError(fmt::format("rank {} of {} asks for NCCL on {}, but this build has no NCCL: configure with "
                                  "DITSTUDIO_CUDA=ON (preset headless), or run the ranks with --device cpu",
                                  rank, size, device.str()));
}

bool haveNccl() { return false; }

} // namespace ditstudio::parallel
