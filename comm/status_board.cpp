// comm/status_board.cpp — the board's server thread: table of rank progress, lost-rank detection, abort fan-out.
#include "comm/status_board.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <sstream>

#include "runtime/error.h"

namespace sy {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Splits off the first word of `s` (space separated); `s` keeps the rest.
std::string take_word(std::string& s) {
  const size_t sp = s.find(' ');
  std::string w = s.substr(0, sp);
  s = sp == std::string::npos ? "" : s.substr(sp + 1);
  return w;
}

}  // namespace

void BoardAddress::pack(unsigned char* out) const {
  std::memset(out, 0, kPackedBytes);
  std::memcpy(out, &token, 8);
  const uint32_t p = port, n = static_cast<uint32_t>(std::min<size_t>(ipv4.size(), kMaxAddresses));
  std::memcpy(out + 8, &p, 4);
  std::memcpy(out + 12, &n, 4);
  std::memcpy(out + 16, ipv4.data(), 4 * n);
}

BoardAddress BoardAddress::unpack(const unsigned char* in) {
  BoardAddress a;
  uint32_t p = 0, n = 0;
  std::memcpy(&a.token, in, 8);
  std::memcpy(&p, in + 8, 4);
  std::memcpy(&n, in + 12, 4);
  a.port = static_cast<uint16_t>(p);
  a.ipv4.resize(std::min<uint32_t>(n, kMaxAddresses));
  std::memcpy(a.ipv4.data(), in + 16, 4 * a.ipv4.size());
  return a;
}

std::string BoardAddress::describe() const {
  std::string s;
  for (uint32_t ip : ipv4) s += (s.empty() ? "" : ", ") + ipv4_text(ip) + ":" + std::to_string(port);
  return s;
}

struct StatusBoard::Client {
  LineSocket socket;
  int rank = -1;  // -1 until hello
  bool goodbye = false;
  Clock::time_point last_heard = Clock::now();
};

StatusBoard::StatusBoard(int world_size, double silence_limit_s)
    : world_size_(world_size), silence_limit_s_(silence_limit_s), table_(world_size), finished_(world_size) {
  for (int r = 0; r < world_size; ++r) table_[r].rank = r;
  others_done_ = world_size == 1;
  listener_ = listen_tcp_any(&address_.port);
  address_.ipv4 = local_ipv4_addresses();
  if (address_.ipv4.size() > BoardAddress::kMaxAddresses) {
    // Keep loopback (last) for ranks on this host.
    address_.ipv4.erase(address_.ipv4.begin() + BoardAddress::kMaxAddresses - 1, address_.ipv4.end() - 1);
  }
  std::random_device rd;
  address_.token = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid());
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw CommError("status board: pipe2 failed");
  wake_read_.reset(fds[0]);
  wake_write_.reset(fds[1]);
  thread_ = std::thread([this] { run(); });
}

StatusBoard::~StatusBoard() {
  stop_ = true;
  const char b = 1;
  [[maybe_unused]] ssize_t n = write(wake_write_.get(), &b, 1);
  thread_.join();
}

void StatusBoard::run() {
  auto last_ping = Clock::now();
  std::vector<pollfd> fds;
  while (!stop_) {
    fds.clear();
    fds.push_back({wake_read_.get(), POLLIN, 0});
    fds.push_back({listener_.get(), POLLIN, 0});
    for (auto& c : clients_)
      fds.push_back({c->socket.fd(), static_cast<short>(POLLIN | (c->socket.has_pending_output() ? POLLOUT : 0)), 0});
    poll(fds.data(), fds.size(), 100);
    if (fds[1].revents & POLLIN) accept_new();

    for (size_t i = 0; i < clients_.size(); ++i) {
      Client& c = *clients_[i];
      if (!c.socket.valid()) continue;
      std::vector<std::string> lines;
      const auto status = c.socket.read_lines(lines);
      if (!lines.empty()) c.last_heard = Clock::now();
      for (const auto& line : lines) handle(c, line);
      if (status != LineSocket::ReadStatus::open) disconnected(c, "its connection to the status board closed without a goodbye");
      else if (c.socket.valid() && !c.socket.flush()) disconnected(c, "its connection to the status board broke");
    }
    std::erase_if(clients_, [](const auto& c) { return !c->socket.valid(); });

    if (seconds_between(last_ping, Clock::now()) >= kBoardHeartbeatS) {
      last_ping = Clock::now();
      heartbeat_and_silence();
    }
  }
}

void StatusBoard::accept_new() {
  while (true) {
    FileDescriptor fd = accept_tcp(listener_.get());
    if (!fd.valid()) return;
    auto c = std::make_unique<Client>();
    c->socket = LineSocket(std::move(fd));
    clients_.push_back(std::move(c));
  }
}

void StatusBoard::handle(Client& c, const std::string& line) {
  std::string rest = line;
  const std::string cmd = take_word(rest);
  if (c.rank < 0) {  // the first line must be a hello with this run's token
    std::istringstream is(rest);
    uint64_t token = 0;
    int rank = -1;
    std::string host;
    if (cmd != "hello" || !(is >> token >> rank >> host) || token != address_.token || rank < 0 ||
        rank >= world_size_) {
      c.socket.close();
      return;
    }
    c.rank = rank;
    table_[rank].host = host;
    table_[rank].connected = true;
    c.socket.queue("welcome");
    return;
  }
  RankState& me = table_[c.rank];
  if (cmd == "state") {
    std::istringstream is(rest);
    is >> me.entered >> me.pending;
    const size_t at = rest.find(' ', rest.find(' ') + 1);
    me.entered_label = at == std::string::npos ? "" : rest.substr(at + 1);
  } else if (cmd == "claim") {
    if (claimed_ || fatal_) {
      c.socket.queue("denied");
      return;
    }
    claimed_ = true;
    const auto now = Clock::now();
    for (const RankState& s : table_) {
      int64_t silent_ms = 0;
      for (const auto& other : clients_)
        if (other->rank == s.rank && other->socket.valid())
          silent_ms = static_cast<int64_t>(seconds_between(other->last_heard, now) * 1e3);
      std::ostringstream os;
      os << "row " << s.rank << " " << s.entered << " " << s.pending << " " << (s.connected ? 1 : 0) << " "
         << silent_ms << " " << (s.host.empty() ? "?" : s.host) << " " << s.entered_label;
      c.socket.queue(os.str());
    }
    c.socket.queue("endtable");
  } else if (cmd == "abort") {
    forward_fatal("abort " + std::to_string(c.rank) + " " + rest, -1);
  } else if (cmd == "leaving") {
    c.goodbye = true;
    finished_[c.rank] = true;
    forward_fatal("left " + std::to_string(c.rank) + " " + me.host + " " + rest, c.rank);
    update_others_done();
  } else if (cmd == "bye") {
    c.goodbye = true;
    finished_[c.rank] = true;
    update_others_done();
  }
  // "ping" only refreshes last_heard.
}

void StatusBoard::disconnected(Client& c, const std::string& why) {
  const int rank = c.rank;
  const bool clean = c.goodbye;
  c.socket.close();
  if (rank < 0) return;
  table_[rank].connected = false;
  // Once the job is being aborted, ranks vanish on purpose.
  if (clean || fatal_) return;
  finished_[rank] = true;
  forward_fatal("lost " + std::to_string(rank) + " " + (table_[rank].host.empty() ? "?" : table_[rank].host) + " " +
                    why,
                rank);
  update_others_done();
}

// Every other client first and world rank 0 (this process) last: rank 0 exits as
// soon as it reads the notice, and must not take the board down before the
// others have theirs in their kernel buffers.
void StatusBoard::forward_fatal(const std::string& line, int except_rank) {
  if (fatal_) return;
  fatal_ = true;
  Client* local = nullptr;
  for (auto& c : clients_) {
    if (!c->socket.valid() || c->rank < 0 || c->rank == except_rank || c->goodbye) continue;
    if (c->rank == 0) {
      local = c.get();
      continue;
    }
    c->socket.queue(line);
    c->socket.flush_blocking(2.0);
  }
  if (local) {
    local->socket.queue(line);
    local->socket.flush_blocking(2.0);
  }
  fatal_forwarded_ = true;
}

void StatusBoard::heartbeat_and_silence() {
  const auto now = Clock::now();
  for (auto& c : clients_) {
    if (!c->socket.valid() || c->rank < 0 || c->goodbye) continue;
    if (seconds_between(c->last_heard, now) > silence_limit_s_) {
      std::ostringstream why;
      why << "no message from it for " << static_cast<int>(silence_limit_s_) << " s (host down or process hung)";
      disconnected(*c, why.str());
      continue;
    }
    c->socket.queue("ping");
  }
}

void StatusBoard::update_others_done() {
  for (int r = 1; r < world_size_; ++r)
    if (!finished_[r]) return;
  others_done_ = true;
}

}  // namespace sy
