// comm/socket.h — RAII file descriptors and a nonblocking TCP stream of text lines (for the status board).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sy {

// Owns a file descriptor; closes it on destruction.  Move-only.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { reset(); }
  FileDescriptor(FileDescriptor&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileDescriptor& operator=(FileDescriptor&& o) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A connected TCP socket in nonblocking mode carrying '\n'-terminated lines.
// Output is buffered: queue() never blocks, flush() sends what the kernel takes.
// Sends use MSG_NOSIGNAL, so a vanished peer is an error code, never SIGPIPE.
class LineSocket {
 public:
  LineSocket() = default;
  explicit LineSocket(FileDescriptor fd);

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  void close() { fd_.reset(); }

  void queue(std::string_view line);  // a '\n' is appended; '\n' inside `line` becomes ' '
  bool flush();                       // false: the peer is gone
  bool flush_blocking(double timeout_s);
  bool has_pending_output() const { return !out_.empty(); }

  enum class ReadStatus { open, closed, error };
  // Reads what has arrived, without blocking; each complete line is appended to `lines`.
  ReadStatus read_lines(std::vector<std::string>& lines);

 private:
  FileDescriptor fd_;
  std::string in_, out_;
};

// IPv4 addresses (network byte order) of this host's interfaces that are up:
// the others first, loopback last, so a peer in another network namespace tries
// an address it can reach before 127.0.0.1.
std::vector<uint32_t> local_ipv4_addresses();
std::string ipv4_text(uint32_t address_be);

// A listening socket on every interface and an ephemeral port (returned in *port).
FileDescriptor listen_tcp_any(uint16_t* port);
// Connects with a timeout; on failure returns an invalid descriptor and sets *error.
FileDescriptor connect_tcp(uint32_t address_be, uint16_t port, double timeout_s, std::string* error);
// Accepts one pending connection (nonblocking listener); invalid when none is pending.
FileDescriptor accept_tcp(int listen_fd);

}  // namespace sy
