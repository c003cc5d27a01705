// comm/board_client.h — BoardClient: one rank's connection to the StatusBoard (progress reports, notices, stall claims).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comm/socket.h"
#include "comm/status_board.h"

namespace sy {

// Used by exactly one thread (the CommEngine's).  Nothing here blocks on the
// hot path: progress reports are buffered and sent at most every few
// milliseconds; the blocking calls belong to the stall and shutdown paths.
class BoardClient {
 public:
  // Tries each address of the board in order; throws CommError naming every
  // address tried and why it failed.  Progress is sent at most every
  // `progress_interval_s`: the table only has to be current to within a small
  // part of the stall timeout, and rank 0's board thread must keep up with
  // every rank.
  BoardClient(const BoardAddress& board, int rank, std::string host, std::string board_host,
              double silence_limit_s, double progress_interval_s);

  int fd() const { return socket_.fd(); }
  int rank() const { return rank_; }
  const std::string& host() const { return host_; }

  // This rank's progress: highest posted seq (and its label), lowest incomplete seq.
  void set_progress(int64_t entered, const std::string& label, int64_t pending);

  // Sends due progress and heartbeats and reads what arrived.  Returns the line
  // to print if the board announced that the job is over (abort, lost or failed
  // rank, or the board itself is gone).
  std::optional<std::string> service();

  struct Claim {
    // no_answer: the board stayed silent (unreachable, e.g. a cut link).
    enum Result { granted, denied, fatal, no_answer } result = no_answer;
    std::vector<RankState> table;  // when granted
    std::string fatal_line;        // when fatal
  };
  // Asks to be the one rank that reports a stall of op `seq` (sends the latest progress first).
  // Gives up early (no_answer) once the board has been silent for kUnreachableAfterS.
  Claim claim(int64_t seq, double timeout_s);
  // Seconds since anything arrived from the board (it pings every kBoardHeartbeatS).
  double silent_s() const;
  void send_abort(const std::string& reason);
  // Waits for the board's notice (e.g. the abort we asked for, echoed back).
  std::optional<std::string> wait_for_notice(double timeout_s);

  // Clean shutdown: "bye" (this rank is done) or "leaving" (it stops because of
  // an error; the board tells the others, who exit with code 5).  Then closes.
  void goodbye();
  void leaving(const std::string& reason);

 private:
  std::optional<std::string> handle(const std::string& line);
  std::optional<std::string> read_notices();
  std::string exit_line(const std::string& why) const;

  LineSocket socket_;
  int rank_;
  std::string host_, board_host_;
  double silence_limit_s_, progress_interval_s_;
  std::chrono::steady_clock::time_point last_sent_, last_heard_, last_progress_sent_;
  int64_t entered_ = 0, pending_ = 1, sent_entered_ = -1, sent_pending_ = -1;
  std::string label_;
  std::vector<std::string> inbox_;  // lines read while waiting for something else
};

}  // namespace sy
