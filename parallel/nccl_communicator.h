// The NCCL communicator: c10d::ProcessGroupNCCL behind the Communicator interface, one GPU per rank. Compiled only
// when DITSTUDIO_CUDA is ON (then DITSTUDIO_HAVE_NCCL is defined); the rendezvous store is the group's TCPStore.
// Sub-groups are new process groups over a PrefixStore named after the communicator. Work::wait() orders the
// result before later work on the current CUDA stream (it does not block the host), as c10d does.
#pragma once
#include "parallel/communicator.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace ditstudio::parallel {

// Collective over the `size` ranks: rank r drives `device` (cuda:<i>), which becomes the current CUDA device.
// Throws ConfigError when this build has no NCCL (DITSTUDIO_CUDA OFF).
std::unique_ptr<Communicator> makeNcclCommunicator(c10::intrusive_ptr<c10d::Store> store, int rank, int size,
                                                   at::Device device, std::chrono::milliseconds timeout);
bool haveNccl();

} // namespace ditstudio::parallel
