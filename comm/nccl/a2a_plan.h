// comm/nccl/a2a_plan.h — the peer transfers of a variable all-to-all (byte counts → offsets), pure and host-tested.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sy {

// One peer's share of an all-to-all-v: bytes at send + send_offset go to `peer`,
// bytes from `peer` land at recv + recv_offset.  Empty directions are skipped by
// the caller (NCCL would otherwise post zero-byte sends and receives).
struct PeerTransfer {
  int peer = 0;
  int64_t send_offset = 0, send_bytes = 0;
  int64_t recv_offset = 0, recv_bytes = 0;
};

// Offsets are running sums in member order, the layout Collectives::all_to_all_v
// (comm/collectives.h) promises.  Peers with nothing either way are left out.
inline std::vector<PeerTransfer> plan_all_to_all(const std::vector<int64_t>& send_bytes,
                                                 const std::vector<int64_t>& recv_bytes) {
  if (send_bytes.size() != recv_bytes.size())
    throw std::invalid_argument("all_to_all_v: " + std::to_string(send_bytes.size()) + " send counts but " +
                                std::to_string(recv_bytes.size()) + " receive counts");
  std::vector<PeerTransfer> plan;
  int64_t send_offset = 0, recv_offset = 0;
  for (size_t q = 0; q < send_bytes.size(); ++q) {
    if (send_bytes[q] < 0 || recv_bytes[q] < 0)
      throw std::invalid_argument("all_to_all_v: negative byte count for member " + std::to_string(q));
    if (send_bytes[q] > 0 || recv_bytes[q] > 0)
      plan.push_back({static_cast<int>(q), send_offset, send_bytes[q], recv_offset, recv_bytes[q]});
    send_offset += send_bytes[q];
    recv_offset += recv_bytes[q];
  }
  return plan;
}

}  // namespace sy
