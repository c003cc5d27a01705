// tests/cuda/nccl_collectives_test.cpp — NCCL all-to-all-v and all-reduce with exactly predictable results, under
// mpirun with one GPU per rank: directly on the NCCL communicators, then through the CommEngine (NcclTransport), whose
// records must number and time the NCCL operations like MPI ones.  Skips on every rank without enough devices.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "comm/comm_engine.h"
#include "comm/mpi_transport.h"
#include "comm/nccl/nccl_comms.h"
#include "comm/nccl/nccl_transport.h"
#include "comm/parallel_grid.h"
#include "mpi_test_main.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/device.h"

namespace sy {
namespace {

// Ranks on this node vs devices; every rank decides the same (the max over the world), so all skip together.
std::string no_devices_reason(const ParallelGrid& grid) {
  const CudaProbe probe = probe_cuda();
  int64_t missing = probe.device_count < grid.ranks_on_this_node() ? 1 : 0, any = 0;
  MPI_Allreduce(&missing, &any, 1, MPI_INT64_T, MPI_MAX, grid.comm(Group::world).get());
  if (any == 0) return "";
  return "need one GPU per rank; " + std::to_string(probe.device_count) + " on this node" +
         (probe.error.empty() ? "" : " (" + probe.error + ")");
}

// Member r of the group sends 1 + (3r + q) mod 4 ints to member q, the i-th being 1'000'000·r + 1'000·q + i.
int64_t count(int from, int to) { return 1 + (3 * from + to) % 4; }
int32_t value(int from, int to, int64_t i) { return 1'000'000 * from + 1'000 * to + int32_t(i); }

struct Payload {
  std::vector<int64_t> send_bytes, recv_bytes;
  std::vector<int32_t> send, expected;
};
Payload payload(int me, int members) {
  Payload p;
  for (int q = 0; q < members; ++q) {
    p.send_bytes.push_back(count(me, q) * 4);
    p.recv_bytes.push_back(count(q, me) * 4);
    for (int64_t i = 0; i < count(me, q); ++i) p.send.push_back(value(me, q, i));
    for (int64_t i = 0; i < count(q, me); ++i) p.expected.push_back(value(q, me, i));
  }
  return p;
}

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    grid = std::make_unique<ParallelGrid>(ParallelGrid::create(grid_ep()));
    if (const std::string why = no_devices_reason(*grid); !why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
    device = device_for_local_rank(grid->local_rank(), grid->ranks_on_this_node(), probe_cuda().device_count,
                                   grid->hostname());
    SY_GPU(cudaSetDevice(device));
    stream = make_stream();
    nccl = std::make_unique<NcclGrid>(NcclGrid::create(*grid));
  }
  static int grid_ep() {
    int w = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &w);
    return w % 2 == 0 && w > 2 ? 2 : w;  // 4 ranks: 2 EP groups of 2; otherwise one group
  }
  std::unique_ptr<ParallelGrid> grid;
  int device = 0;
  CudaStream stream;
  std::unique_ptr<NcclGrid> nccl;
};

TEST_F(Nccl, AllToAllVDeliversEveryEncodedRow) {
  for (Group g : {Group::world, Group::ep}) {
    const Payload p = payload(grid->rank(g), grid->size(g));
    DeviceBuffer<int32_t> send(int64_t(p.send.size())), recv(int64_t(p.expected.size()));
    send.upload(p.send.data(), int64_t(p.send.size()));
    nccl_all_to_all_v(nccl->comm(g).get(), send.data(), p.send_bytes, recv.data(), p.recv_bytes, stream.get());
    SY_GPU(cudaStreamSynchronize(stream.get()));
    EXPECT_EQ(recv.download(), p.expected) << "group " << group_name(g);
  }
}

TEST_F(Nccl, AllReduceSumsOverTheExpertDpGroup) {
  const int n = 1000, size = grid->size(Group::expert_dp);
  std::vector<float> mine(n);
  for (int i = 0; i < n; ++i) mine[i] = float(grid->world_rank() + 1) * float(i % 7);
  DeviceBuffer<float> buf(n);
  buf.upload(mine.data(), n);
  nccl_all_reduce_sum(nccl->comm(Group::expert_dp).get(), buf.data(), n, stream.get());
  SY_GPU(cudaStreamSynchronize(stream.get()));
  // Σ over the members {(r mod ep) + j·ep} of (member + 1), times i mod 7.
  float members_sum = 0;
  for (int m : grid->members(Group::expert_dp)) members_sum += float(m + 1);
  const std::vector<float> got = buf.download();
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], members_sum * float(i % 7)) << "element " << i << " of " << size;
}

// The CommEngine over NcclTransport: device buffers go to NCCL, the engine's own host traffic to MPI,
// and the records number every operation in submission order.
TEST_F(Nccl, CommEngineNumbersAndTimesNcclOperations) {
  auto transport = std::make_unique<NcclTransport>(std::make_unique<MpiTransport>(), *nccl, device, stream.get());
  CommEngine engine(*grid, std::move(transport), /*stall_timeout_s=*/60.0);
  engine.take_records();
  const int64_t first = engine.last_seq() + 1;

  const Payload p = payload(grid->rank(Group::ep), grid->size(Group::ep));
  DeviceBuffer<int32_t> send(int64_t(p.send.size())), recv(int64_t(p.expected.size()));
  send.upload(p.send.data(), int64_t(p.send.size()));
  engine.all_to_all_v(Group::ep, send.data(), p.send_bytes, recv.data(), p.recv_bytes, "nccl a2a").wait();
  EXPECT_EQ(recv.download(), p.expected);

  std::vector<float> ones(64, 1.f);
  DeviceBuffer<float> grads(64);
  grads.upload(ones.data(), 64);
  engine.all_reduce_sum(Group::world, grads.data(), 64, "nccl grads").wait();
  for (float v : grads.download()) ASSERT_EQ(v, float(grid->world_size()));

  int64_t host_flag = grid->world_rank();
  engine.all_reduce_max(Group::world, &host_flag, 1, "host max").wait();  // host memory: MPI
  EXPECT_EQ(host_flag, grid->world_size() - 1);

  const std::vector<OpRecord> records = engine.take_records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].seq, first);
  EXPECT_EQ(records[0].kind, OpKind::all_to_all_v);
  EXPECT_EQ(records[0].label, "nccl a2a");
  EXPECT_EQ(records[1].seq, first + 1);
  EXPECT_EQ(records[1].label, "nccl grads");
  EXPECT_EQ(records[2].seq, first + 2);
  for (const OpRecord& r : records) EXPECT_GE(r.ms, 0.0);
}

// World member 0 has nothing to exchange and passes null buffers: the NcclTransport must still
// put it into its peers' NCCL group (not on MPI), or the others would wait forever.
TEST_F(Nccl, IdleRankWithNullBuffersJoinsTheNcclAllToAll) {
  auto transport = std::make_unique<NcclTransport>(std::make_unique<MpiTransport>(), *nccl, device, stream.get());
  CommEngine engine(*grid, std::move(transport), /*stall_timeout_s=*/60.0);
  const int me = grid->rank(Group::world), W = grid->size(Group::world);
  auto n = [](int from, int to) { return from == 0 || to == 0 ? int64_t(0) : count(from, to); };
  std::vector<int64_t> send_bytes, recv_bytes;
  std::vector<int32_t> send, expected;
  for (int q = 0; q < W; ++q) {
    send_bytes.push_back(n(me, q) * 4);
    recv_bytes.push_back(n(q, me) * 4);
    for (int64_t i = 0; i < n(me, q); ++i) send.push_back(value(me, q, i));
    for (int64_t i = 0; i < n(q, me); ++i) expected.push_back(value(q, me, i));
  }
  DeviceBuffer<int32_t> dsend(int64_t(send.size())), drecv(int64_t(expected.size()));  // empty on member 0: null
  if (!send.empty()) dsend.upload(send.data(), int64_t(send.size()));
  engine.all_to_all_v(Group::world, dsend.data(), send_bytes, drecv.data(), recv_bytes, "idle rank a2a").wait();
  EXPECT_EQ(drecv.download(), expected);
}

}  // namespace
}  // namespace sy

SY_MPI_TEST_MAIN
