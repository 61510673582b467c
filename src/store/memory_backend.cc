#include "store/memory_backend.h"

#include <algorithm>

#include "store/watch_hub.h"

namespace minik::store {

using internal::HasPrefix;

MemoryBackend::MemoryBackend() : MemoryBackend(Options{}) {}
MemoryBackend::MemoryBackend(Options options) : options_(options), hub_(std::make_shared<internal::WatchHub>()) {}
MemoryBackend::~MemoryBackend() = default;

StatusOr<KeyValue> MemoryBackend::Get(const std::string& key) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.empty() || it->second.back().deleted) return internal::KeyNotFound(key);
  const Rec& r = it->second.back();
  return KeyValue{key, r.value, r.create_revision, r.revision};
}

StatusOr<ListResult> MemoryBackend::List(const std::string& prefix, const std::string& start_after, int64_t limit,
                                         int64_t revision) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (revision == 0) revision = current_;
  if (revision < compacted_) return internal::Compacted(revision, compacted_);
  if (revision > current_) return internal::FutureRevision(revision, current_);
  ListResult out;
  out.revision = revision;
  auto it = (!start_after.empty() && start_after >= prefix) ? keys_.upper_bound(start_after) : keys_.lower_bound(prefix);
  for (; it != keys_.end() && HasPrefix(it->first, prefix); ++it) {
    const auto& recs = it->second;
    auto r = std::upper_bound(recs.begin(), recs.end(), revision,
                              [](int64_t rev, const Rec& rec) { return rev < rec.revision; });
    if (r == recs.begin()) continue;
    --r;
    if (r->deleted) continue;
    if (limit > 0 && static_cast<int64_t>(out.kvs.size()) >= limit) {
      out.more = true;
      ++out.remaining;
      continue;
    }
    out.kvs.push_back(KeyValue{it->first, r->value, r->create_revision, r->revision});
  }
  return out;
}

StatusOr<Event> MemoryBackend::ApplyLocked(const Op& op) {
  auto& recs = keys_[op.key];
  const Rec* cur = (!recs.empty() && !recs.back().deleted) ? &recs.back() : nullptr;
  Event ev;
  const int64_t rev = current_ + 1;
  switch (op.type) {
    case Op::Type::kCreate:
      if (cur) return internal::KeyExists(op.key);
      ev.type = Event::Type::kPut;
      ev.kv = KeyValue{op.key, op.value, rev, rev};
      recs.push_back(Rec{rev, rev, false, op.value});
      break;
    case Op::Type::kUpdate:
    case Op::Type::kDelete:
      if (!cur) {
        if (recs.empty()) keys_.erase(op.key);
        return internal::KeyNotFound(op.key);
      }
      if (op.expected_revision != 0 && op.expected_revision != cur->revision) {
        return internal::RevisionMismatch(op.key, op.expected_revision, cur->revision);
      }
      ev.prev = KeyValue{op.key, cur->value, cur->create_revision, cur->revision};
      if (op.type == Op::Type::kUpdate) {
        ev.type = Event::Type::kPut;
        ev.kv = KeyValue{op.key, op.value, cur->create_revision, rev};
        recs.push_back(Rec{rev, cur->create_revision, false, op.value});
      } else {
        ev.type = Event::Type::kDelete;
        ev.kv = KeyValue{op.key, cur->value, cur->create_revision, rev};
        recs.push_back(Rec{rev, cur->create_revision, true, cur->value});
      }
      break;
  }
  current_ = rev;
  log_.push_back(ev);
  return ev;
}

void MemoryBackend::Submit(Op op, OpCallback done) {
  StatusOr<KeyValue> result = Status::Internal("unset");
  {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    StatusOr<Event> ev = ApplyLocked(op);
    if (ev.ok()) {
      result = ev->kv;
      hub_->Deliver({*ev});
      if (options_.keep_revisions > 0 && current_ - options_.keep_revisions > compacted_) {
        CompactLocked(current_ - options_.keep_revisions);
      }
    } else {
      result = ev.status();
    }
  }
  if (done) done(std::move(result));
}

StatusOr<WatchHandlePtr> MemoryBackend::Watch(const std::string& prefix, int64_t from_revision,
                                              EventsHandler handler) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (from_revision < compacted_) return internal::Compacted(from_revision, compacted_);
  auto w = std::make_shared<internal::Watcher>(prefix, std::move(handler), from_revision);
  std::vector<Event> history;
  for (const Event& e : log_) {
    if (e.kv.mod_revision > from_revision && HasPrefix(e.kv.key, prefix)) history.push_back(e);
  }
  w->Deliver(history);
  hub_->Add(w);
  return WatchHandlePtr(new internal::HubWatchHandle(hub_, w));
}

int64_t MemoryBackend::CurrentRevision() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return current_;
}

int64_t MemoryBackend::CompactedRevision() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return compacted_;
}

Status MemoryBackend::Compact(int64_t revision) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (revision > current_) return internal::FutureRevision(revision, current_).WithContext("compact");
  CompactLocked(revision);
  return Status::OK();
}

void MemoryBackend::CompactLocked(int64_t revision) {
  if (revision <= compacted_) return;
  for (auto it = keys_.begin(); it != keys_.end();) {
    auto& recs = it->second;
    // Keep the newest entry at or below the revision (unless it is a tombstone) and all newer.
    auto r = std::upper_bound(recs.begin(), recs.end(), revision,
                              [](int64_t rev, const Rec& rec) { return rev < rec.revision; });
    if (r != recs.begin()) {
      auto keep = r - 1;
      if (keep->deleted) ++keep;
      recs.erase(recs.begin(), keep);
    }
    if (recs.empty()) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  while (!log_.empty() && log_.front().kv.mod_revision <= revision) log_.pop_front();
  compacted_ = revision;
}

}  // namespace minik::store
