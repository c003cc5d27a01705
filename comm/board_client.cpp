// comm/board_client.cpp — connecting to the status board, progress reports, notices and the stall claim.
#include "comm/board_client.h"

#include <poll.h>

#include <sstream>

#include "runtime/error.h"

namespace sy {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string take_word(std::string& s) {
  const size_t sp = s.find(' ');
  std::string w = s.substr(0, sp);
  s = sp == std::string::npos ? "" : s.substr(sp + 1);
  return w;
}


}  // namespace

BoardClient::BoardClient(const BoardAddress& board, int rank, std::string host, std::string board_host,
                         double silence_limit_s, double progress_interval_s)
    : rank_(rank),
      host_(std::move(host)),
      board_host_(std::move(board_host)),
      silence_limit_s_(silence_limit_s),
      progress_interval_s_(progress_interval_s) {
  std::string tried;
  for (uint32_t ip : board.ipv4) {
    std::string error;
    FileDescriptor fd = connect_tcp(ip, board.port, 3.0, &error);
    if (fd.valid()) {
      LineSocket s(std::move(fd));
      s.queue("hello " + std::to_string(board.token) + " " + std::to_string(rank_) + " " + host_);
      bool welcomed = false;
      if (s.flush_blocking(2.0)) {
        const auto t0 = Clock::now();
        std::vector<std::string> lines;
        while (!welcomed && seconds_since(t0) < 3.0) {
          pollfd p{s.fd(), POLLIN, 0};
          poll(&p, 1, 100);
          if (s.read_lines(lines) != LineSocket::ReadStatus::open && lines.empty()) break;
          for (auto& l : lines) welcomed = welcomed || l == "welcome";
        }
      }
      if (welcomed) {
        socket_ = std::move(s);
        last_sent_ = last_heard_ = last_progress_sent_ = Clock::now();
        return;
      }
      error = "no welcome (not this run's board)";
    }
    tried += (tried.empty() ? "" : ", ") + ipv4_text(ip) + ":" + std::to_string(board.port) + " (" + error + ")";
  }
  throw CommError("rank " + std::to_string(rank_) + " (" + host_ + ") cannot reach the status board on rank 0 (" +
                  board_host_ + "): tried " + tried);
}

void BoardClient::set_progress(int64_t entered, const std::string& label, int64_t pending) {
  if (entered != entered_) label_ = label;
  entered_ = entered;
  pending_ = pending;
}

std::string BoardClient::exit_line(const std::string& why) const {
  return "switchyard: rank " + std::to_string(rank_) + " (" + host_ + ") exits with code 5: " + why;
}

std::optional<std::string> BoardClient::handle(const std::string& line) {
  std::string rest = line;
  const std::string cmd = take_word(rest);
  if (cmd == "abort") {
    take_word(rest);  // the sender's rank: the text names it
    return exit_line(rest);
  }
  if (cmd == "lost" || cmd == "left") {
    const std::string rank = take_word(rest), host = take_word(rest);
    const std::string me = "rank " + std::to_string(rank_) + " (" + host_ + ") exits with code 5";
    if (cmd == "lost") return "switchyard: rank " + rank + " (" + host + ") lost: " + rest + "; " + me;
    return "switchyard: rank " + rank + " (" + host + ") stopped with an error: " + rest + "; " + me;
  }
  return std::nullopt;  // ping, welcome, or a stale claim answer
}

std::optional<std::string> BoardClient::read_notices() {
  std::vector<std::string> lines;
  lines.swap(inbox_);
  const auto status = socket_.read_lines(lines);
  if (!lines.empty()) last_heard_ = Clock::now();
  for (const auto& l : lines)
    if (auto fatal = handle(l)) return fatal;
  if (status != LineSocket::ReadStatus::open)
    return "switchyard: rank 0 (" + board_host_ + ") lost: the status board it runs closed the connection; rank " +
           std::to_string(rank_) + " (" + host_ + ") exits with code 5";
  if (seconds_since(last_heard_) > silence_limit_s_)
    return "switchyard: rank 0 (" + board_host_ + ") lost: no message from the status board for " +
           std::to_string(static_cast<int>(silence_limit_s_)) + " s; rank " + std::to_string(rank_) + " (" + host_ +
           ") exits with code 5";
  return std::nullopt;
}

std::optional<std::string> BoardClient::service() {
  if ((entered_ != sent_entered_ || pending_ != sent_pending_) && seconds_since(last_progress_sent_) >= progress_interval_s_) {
    socket_.queue("state " + std::to_string(entered_) + " " + std::to_string(pending_) + " " + label_);
    sent_entered_ = entered_;
    sent_pending_ = pending_;
    last_progress_sent_ = last_sent_ = Clock::now();
  } else if (seconds_since(last_sent_) >= kBoardHeartbeatS) {
    socket_.queue("ping");
    last_sent_ = Clock::now();
  }
  if (!socket_.flush())
    return "switchyard: rank 0 (" + board_host_ + ") lost: cannot send to the status board it runs; rank " +
           std::to_string(rank_) + " (" + host_ + ") exits with code 5";
  return read_notices();
}

BoardClient::Claim BoardClient::claim(int64_t seq, double timeout_s) {
  Claim c;
  socket_.queue("state " + std::to_string(entered_) + " " + std::to_string(pending_) + " " + label_);
  socket_.queue("claim " + std::to_string(seq));
  socket_.flush_blocking(2.0);
  const auto t0 = Clock::now();
  while (seconds_since(t0) < timeout_s) {
    pollfd p{socket_.fd(), POLLIN, 0};
    poll(&p, 1, 100);
    std::vector<std::string> lines;
    const auto status = socket_.read_lines(lines);
    if (!lines.empty()) last_heard_ = Clock::now();
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string rest = lines[i];
      const std::string cmd = take_word(rest);
      if (cmd == "row") {
        RankState s;
        s.rank = std::stoi(take_word(rest));
        s.entered = std::stoll(take_word(rest));
        s.pending = std::stoll(take_word(rest));
        s.connected = take_word(rest) == "1";
        s.silent_s = std::stoll(take_word(rest)) / 1e3;
        s.host = take_word(rest);
        s.entered_label = rest;
        c.table.push_back(std::move(s));
      } else if (cmd == "endtable" || cmd == "denied") {
        c.result = cmd == "endtable" ? Claim::granted : Claim::denied;
        inbox_.insert(inbox_.end(), lines.begin() + i + 1, lines.end());
        return c;
      } else if (auto fatal = handle(lines[i])) {
        c.result = Claim::fatal;
        c.fatal_line = *fatal;
        return c;
      }
    }
    if (status != LineSocket::ReadStatus::open) {
      c.result = Claim::fatal;
      c.fatal_line = read_notices().value_or(exit_line("the status board closed the connection"));
      return c;
    }
    if (silent_s() > kUnreachableAfterS) break;
  }
  return c;  // no answer: the caller reports on its own
}

double BoardClient::silent_s() const { return seconds_since(last_heard_); }

void BoardClient::send_abort(const std::string& reason) {
  socket_.queue("abort " + reason);
  socket_.flush_blocking(2.0);
}

std::optional<std::string> BoardClient::wait_for_notice(double timeout_s) {
  const auto t0 = Clock::now();
  while (seconds_since(t0) < timeout_s) {
    if (inbox_.empty()) {
      pollfd p{socket_.fd(), POLLIN, 0};
      poll(&p, 1, 100);
    }
    if (auto fatal = read_notices()) return fatal;
  }
  return std::nullopt;
}

void BoardClient::goodbye() {
  socket_.queue("bye");
  socket_.flush_blocking(2.0);
  socket_.close();
}

void BoardClient::leaving(const std::string& reason) {
  socket_.queue("leaving " + reason);
  socket_.flush_blocking(2.0);
  socket_.close();
}

}  // namespace sy
