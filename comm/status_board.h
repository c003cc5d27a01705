// comm/status_board.h — StatusBoard: rank 0's out-of-band TCP table of every rank's progress, and its wire protocol.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comm/socket.h"

namespace sy {

// MPI cannot say which ranks have not reached a collective, and a dead rank
// leaves the others waiting forever.  Like c10d's TCPStore, world rank 0 runs a
// small TCP server that every rank's CommEngine keeps a connection to:
//   - each rank reports "entered seq s (label)" and "everything below seq p is done",
//     so a stalled rank can name the ranks that never arrived;
//   - a connection that closes without a goodbye, or falls silent, is a lost rank,
//     which the board announces to every rank (each then exits with code 5);
//   - one stalled rank is granted the right to print the report, then asks the
//     board to abort everyone.
// It never touches MPI.  Text lines, one message each:
//   client → board: hello TOKEN RANK HOST | state ENTERED PENDING LABEL | ping | claim SEQ |
//                   abort TEXT | leaving TEXT | bye
//   board → client: welcome | ping | row RANK ENTERED PENDING CONNECTED SILENT_MS HOST LABEL | endtable |
//                   denied | abort FROM TEXT | lost RANK HOST REASON | left RANK HOST TEXT

// Heartbeats both ways; a side silent for the silence limit is lost.
constexpr double kBoardHeartbeatS = 1.0;
// A side silent for this long (three missed heartbeats) is named unreachable in
// stall reports: a cut link stalls collectives long before the silence limit.
constexpr double kUnreachableAfterS = 3 * kBoardHeartbeatS;

// What the board knows about one rank.
struct RankState {
  int rank = -1;
  std::string host;
  int64_t entered = 0;        // highest sequence number the rank has posted (0: none yet)
  std::string entered_label;  // its label
  int64_t pending = 1;        // lowest sequence number not yet complete on the rank
  bool connected = false;
  double silent_s = 0;        // seconds since the board last heard from it (when the table was sent)
};

// Where the board listens: sent from rank 0 to all ranks over MPI at start-up.
struct BoardAddress {
  uint64_t token = 0;  // random per run: a client that reaches some other server notices
  uint16_t port = 0;
  std::vector<uint32_t> ipv4;  // network byte order, in the order to try

  static constexpr int kMaxAddresses = 16;
  static constexpr int kPackedBytes = 8 + 4 + 4 + 4 * kMaxAddresses;
  void pack(unsigned char* out) const;  // kPackedBytes
  static BoardAddress unpack(const unsigned char* in);
  std::string describe() const;  // "10.0.0.1:4711, 127.0.0.1:4711"
};

class StatusBoard {
 public:
  // Listens on every interface and starts the server thread.
  StatusBoard(int world_size, double silence_limit_s);
  ~StatusBoard();
  StatusBoard(const StatusBoard&) = delete;
  StatusBoard& operator=(const StatusBoard&) = delete;

  const BoardAddress& address() const { return address_; }
  // Every rank but world rank 0 (this process) has said goodbye or left.
  bool others_done() const { return others_done_.load(); }
  // An abort / lost / left notice has been handed to every client's socket.
  bool fatal_forwarded() const { return fatal_forwarded_.load(); }

 private:
  struct Client;
  void run();
  void accept_new();
  void handle(Client& c, const std::string& line);
  void disconnected(Client& c, const std::string& why);
  void forward_fatal(const std::string& line, int except_rank);
  void heartbeat_and_silence();
  void update_others_done();

  int world_size_;
  double silence_limit_s_;
  BoardAddress address_;
  FileDescriptor listener_;
  FileDescriptor wake_read_, wake_write_;
  std::vector<std::unique_ptr<Client>> clients_;  // server thread only
  std::vector<RankState> table_;
  std::vector<bool> finished_;  // said bye or left
  bool claimed_ = false, fatal_ = false;
  std::atomic<bool> stop_{false}, others_done_{false}, fatal_forwarded_{false};
  std::thread thread_;
};

}  // namespace sy
