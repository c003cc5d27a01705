// comm/socket.cpp — POSIX sockets behind RAII: listen, connect with timeout, line framing.
#include "comm/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "runtime/error.h"

namespace sy {
namespace {

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& o) noexcept {
  if (this != &o) {
    reset(o.fd_);
    o.fd_ = -1;
  }
  return *this;
}

void FileDescriptor::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

LineSocket::LineSocket(FileDescriptor fd) : fd_(std::move(fd)) {
  set_nonblocking(fd_.get());
  set_nodelay(fd_.get());
}

void LineSocket::queue(std::string_view line) {
  const size_t start = out_.size();
  out_.append(line);
  for (size_t i = start; i < out_.size(); ++i)
    if (out_[i] == '\n') out_[i] = ' ';
  out_.push_back('\n');
}

bool LineSocket::flush() {
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return true;
}

bool LineSocket::flush_blocking(double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (true) {
    if (!flush()) return false;
    if (out_.empty()) return true;
    const double left = timeout_s - seconds_since(t0);
    if (left <= 0) return false;
    pollfd p{fd_.get(), POLLOUT, 0};
    poll(&p, 1, static_cast<int>(left * 1000) + 1);
  }
}

LineSocket::ReadStatus LineSocket::read_lines(std::vector<std::string>& lines) {
  char buf[4096];
  ReadStatus status = ReadStatus::open;
  while (true) {
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) status = ReadStatus::closed;
    else if (errno == EINTR) continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) status = ReadStatus::error;
    break;
  }
  size_t start = 0;
  for (size_t nl; (nl = in_.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.emplace_back(in_, start, nl - start);
  in_.erase(0, start);
  return status;
}

std::vector<uint32_t> local_ipv4_addresses() {
  std::vector<uint32_t> others, loopback;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a; a = a->ifa_next) {
      if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !(a->ifa_flags & IFF_UP)) continue;
      const uint32_t ip = reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr;
      (a->ifa_flags & IFF_LOOPBACK ? loopback : others).push_back(ip);
    }
    freeifaddrs(list);
  }
  if (loopback.empty()) loopback.push_back(htonl(INADDR_LOOPBACK));
  others.insert(others.end(), loopback.begin(), loopback.end());
  return others;
}

std::string ipv4_text(uint32_t address_be) {
  char text[INET_ADDRSTRLEN] = {};
  in_addr a{};
  a.s_addr = address_be;
  inet_ntop(AF_INET, &a, text, sizeof text);
  return text;
}

FileDescriptor listen_tcp_any(uint16_t* port) {
  FileDescriptor fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw CommError(std::string("status board: socket() failed: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd.get(), 256) != 0)
    throw CommError(std::string("status board: cannot listen on a TCP port: ") + std::strerror(errno));
  socklen_t len = sizeof addr;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  set_nonblocking(fd.get());
  return fd;
}

FileDescriptor connect_tcp(uint32_t address_be, uint16_t port, double timeout_s, std::string* error) {
  FileDescriptor fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    *error = std::string("socket(): ") + std::strerror(errno);
    return {};
  }
  set_nonblocking(fd.get());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = address_be;
  addr.sin_port = htons(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      *error = std::strerror(errno);
      return {};
    }
    pollfd p{fd.get(), POLLOUT, 0};
    const int ready = poll(&p, 1, static_cast<int>(timeout_s * 1000));
    int so_error = 0;
    socklen_t len = sizeof so_error;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (ready <= 0 || so_error != 0) {
      *error = ready <= 0 ? "timed out" : std::strerror(so_error);
      return {};
    }
  }
  return fd;
}

FileDescriptor accept_tcp(int listen_fd) {
  const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  return FileDescriptor(fd);
}

}  // namespace sy
