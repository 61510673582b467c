// Cluster IP and NodePort allocation for Services, from --service-cidr and 30000-32767.
// The set of allocated values is derived from the stored Services (passed in by the caller)
// plus reservations made but not yet committed, so it never drifts from the store.
// Threading: the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "common/status.h"

namespace minik::server {

class ServiceAllocator {
 public:
  // cidr like "10.43.0.0/16". The first address (network + 1) is reserved for the kubernetes Service.
  static StatusOr<ServiceAllocator> Create(const std::string& cidr);
  ServiceAllocator() = default;

  // used(fn) must call fn for every IP / node port currently stored.
  using Enumerate = std::function<void(const std::function<void(const std::string&)>&)>;
  using EnumeratePorts = std::function<void(const std::function<void(int)>&)>;

  // Picks a free IP (random start, linear probe) and reserves it until Release/Commit.
  StatusOr<std::string> AllocateIp(const Enumerate& used);
  // Reserves a specific IP; Invalid-shaped message pieces are produced by the caller.
  // Returns: OK, AlreadyExists (in use), or Invalid ("not in the valid range").
  Status ReserveIp(const std::string& ip, const Enumerate& used);
  StatusOr<int> AllocateNodePort(const EnumeratePorts& used);
  Status ReserveNodePort(int port, const EnumeratePorts& used);
  // Drops a reservation (after the write committed or failed).
  void ReleaseIp(const std::string& ip) { pending_ips_.erase(ip); }
  void ReleaseNodePort(int port) { pending_ports_.erase(port); }

  std::string FirstIp() const;  // the kubernetes Service's IP, e.g. 10.43.0.1
  bool Contains(const std::string& ip) const;
  std::string cidr() const { return cidr_; }

  static constexpr int kNodePortMin = 30000;
  static constexpr int kNodePortMax = 32767;

 private:
  std::string cidr_;
  uint32_t base_ = 0;  // network address, host order
  uint32_t size_ = 0;  // number of addresses in the range
  std::set<std::string> pending_ips_;
  std::set<int> pending_ports_;
  uint32_t next_ = 0;
  int next_port_ = 0;
};

}  // namespace minik::server
