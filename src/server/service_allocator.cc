#include "server/service_allocator.h"

#include <arpa/inet.h>

#include <random>
#include <unordered_set>

namespace minik::server {
namespace {

std::string IpString(uint32_t host_order) {
  in_addr a{};
  a.s_addr = htonl(host_order);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

bool ParseIp(const std::string& s, uint32_t* out) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

}  // namespace

StatusOr<ServiceAllocator> ServiceAllocator::Create(const std::string& cidr) {
  auto slash = cidr.find('/');
  uint32_t base;
  if (slash == std::string::npos || !ParseIp(cidr.substr(0, slash), &base)) {
    return Status::Invalid("invalid service CIDR " + cidr);
  }
  int bits = std::stoi(cidr.substr(slash + 1));
  if (bits < 8 || bits > 30) return Status::Invalid("service CIDR " + cidr + " must be between /8 and /30");
  ServiceAllocator a;
  a.cidr_ = cidr;
  uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
  a.base_ = base & mask;
  a.size_ = uint32_t(1) << (32 - bits);
  std::random_device rd;
  a.next_ = rd() % a.size_;
  a.next_port_ = static_cast<int>(rd() % (kNodePortMax - kNodePortMin + 1));
  return a;
}

std::string ServiceAllocator::FirstIp() const { return IpString(base_ + 1); }

bool ServiceAllocator::Contains(const std::string& ip) const {
  uint32_t v;
  if (!ParseIp(ip, &v)) return false;
  // Network and broadcast addresses are not usable.
  return v > base_ && v < base_ + size_ - 1;
}

StatusOr<std::string> ServiceAllocator::AllocateIp(const Enumerate& used) {
  std::unordered_set<std::string> in_use(pending_ips_.begin(), pending_ips_.end());
  used([&](const std::string& ip) { in_use.insert(ip); });
  // Usable: base+1 .. base+size-2; base+1 is the kubernetes Service's (taken explicitly at boot).
  uint32_t usable = size_ - 2;
  for (uint32_t i = 0; i < usable; ++i) {
    uint32_t off = 1 + (next_ + i) % usable;
    std::string ip = IpString(base_ + off);
    if (!in_use.count(ip)) {
      next_ = (off) % usable;
      pending_ips_.insert(ip);
      return ip;
    }
  }
  return Status::Internal("range is full");
}

Status ServiceAllocator::ReserveIp(const std::string& ip, const Enumerate& used) {
  if (!Contains(ip)) return Status::Invalid("the provided IP (" + ip + ") is not in the valid range. The range of valid IPs is " + cidr_);
  bool taken = pending_ips_.count(ip) > 0;
  used([&](const std::string& u) { taken = taken || u == ip; });
  if (taken) return Status::AlreadyExists("provided IP is already allocated");
  pending_ips_.insert(ip);
  return Status::OK();
}

StatusOr<int> ServiceAllocator::AllocateNodePort(const EnumeratePorts& used) {
  std::unordered_set<int> in_use(pending_ports_.begin(), pending_ports_.end());
  used([&](int p) { in_use.insert(p); });
  const int n = kNodePortMax - kNodePortMin + 1;
  for (int i = 0; i < n; ++i) {
    int port = kNodePortMin + (next_port_ + i) % n;
    if (!in_use.count(port)) {
      next_port_ = (port - kNodePortMin + 1) % n;
      pending_ports_.insert(port);
      return port;
    }
  }
  return Status::Internal("range is full");
}

Status ServiceAllocator::ReserveNodePort(int port, const EnumeratePorts& used) {
  if (port < kNodePortMin || port > kNodePortMax) {
    return Status::Invalid("provided port is not in the valid range. The range of valid ports is 30000-32767");
  }
  bool taken = pending_ports_.count(port) > 0;
  used([&](int p) { taken = taken || p == port; });
  if (taken) return Status::AlreadyExists("provided port is already allocated");
  pending_ports_.insert(port);
  return Status::OK();
}

}  // namespace minik::server
